#!/usr/bin/env python3
"""Reference data for tests/model: diffusers' AutoencoderKL outputs that diffmem's AutoencoderKL
must match.

Run from the repository root with a Python that has torch, diffusers and safetensors:
    python3 tests/reference/model/make_vae_reference.py
Writes, next to this script:
  vae_tiny/            a random-weight AutoencoderKL from save_pretrained: 3 levels (8, 16, 16),
                       2 layers per block, 4 groups, 4 latent channels (SD's shape, small)
  vae_tiny_io.safetensors
      x [2,3,32,32] f32 in [-1,1]; mean, logvar [2,4,8,8] (latent_dist after the clamp);
      sample [2,4,8,8] = latent_dist.sample(torch.Generator().manual_seed(7));
      z [2,4,8,8] f32; decoded [2,3,32,32] = vae.decode(z).sample
Norm scales and biases are perturbed away from 1 and 0 so that every parameter matters.
"""
import os

import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    torch.manual_seed(3)
    vae = AutoencoderKL(in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 3,
                        up_block_types=["UpDecoderBlock2D"] * 3,
                        block_out_channels=[8, 16, 16], layers_per_block=2, latent_channels=4,
                        norm_num_groups=4, sample_size=32).eval()
    with torch.no_grad():
        for _, p in vae.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    vae.save_pretrained(os.path.join(HERE, "vae_tiny"), safe_serialization=True)
    x = (torch.rand(2, 3, 32, 32) * 2 - 1)
    z = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        dist = vae.encode(x).latent_dist
        sample = dist.sample(torch.Generator().manual_seed(7))
        decoded = vae.decode(z).sample
    save_file({"x": x, "mean": dist.mean.contiguous(), "logvar": dist.logvar.contiguous(),
               "sample": sample.contiguous(), "z": z, "decoded": decoded.contiguous()},
              os.path.join(HERE, "vae_tiny_io.safetensors"))
    print("vae_tiny written:", sum(p.numel() for p in vae.parameters()), "parameters")
