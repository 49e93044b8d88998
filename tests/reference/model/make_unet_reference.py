#!/usr/bin/env python3
"""Reference data for tests/model: diffusers' UNet2DModel outputs that diffmem's UNet2D must match.

Run from the repository root with a Python that has torch, diffusers and safetensors:
    python3 tests/reference/model/make_unet_reference.py
Writes, next to this script:
  small_attn/                 (a) diffusers folder from save_pretrained: 16x16x3, block_out_channels
                              (16, 32), attention_head_dim 8 (4 heads), F32 weights
  small_attn_io.safetensors   x [3,3,16,16] f32, t [3] i64, temb [3,16] f32 (sinusoidal embedding),
                              eps [3,3,16,16] f32 = model(x, t).sample
  legacy_f16/unet/            (b) a pipeline-style folder (weights in unet/): 16x16x1, flip_sin_to_cos,
                              freq_shift 0, downsample_padding 1, center_input_sample, mid_block_scale
                              _factor 2, time_embedding_dim 48, attn_norm_num_groups 4, 2 layers per
                              block, F16 weights under the legacy attention names query/key/value/
                              proj_attn
  legacy_f16_io.safetensors   as above for (b); eps from the F16-rounded weights in f32
  ddpm_cifar10_params.txt     (c) every parameter name and shape of google/ddpm-cifar10-32's
                              configuration as diffusers builds it, and the total count
  ddpm_cifar10_io.safetensors (c) eps [2,3,32,32] f32 of that network with the weights below, for
                              x and t below (also stored: x, t)

Weights of (c) (no 140 MB file): parameters sorted by name, k = index in that order,
flat = param.flatten(), i = 0..numel-1, s = sin(i * 0.37 + k) computed in float64:
  ndim >= 2 (conv / linear weights): flat[i] = s * 1.5 / sqrt(numel / shape[0])
  ndim == 1, name ends "norm*.weight" (GroupNorm scales): flat[i] = 1 + 0.2 s
  other ndim == 1 (biases):          flat[i] = 0.1 s
then cast to float32. Inputs of (c): x.flatten()[i] = 0.8 sin(0.013 i) (f64 → f32), t = [10, 500].
"""
import json
import math
import os

import torch
from diffusers import UNet2DModel
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = "diffusion_pytorch_model.safetensors"


def randomize(model, seed):
    """Every parameter random and non-trivial (GroupNorm scales away from 1, biases non-zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.ndim >= 2:
                p.copy_(r / math.sqrt(p.numel() / p.shape[0]))
            elif "norm" in name.split(".")[-2] and name.endswith(".weight"):
                p.copy_(1 + 0.3 * r)
            else:
                p.copy_(0.3 * r)


def formula_fill(model):
    with torch.no_grad():
        for k, (name, p) in enumerate(sorted(model.named_parameters())):
            i = torch.arange(p.numel(), dtype=torch.float64)
            s = torch.sin(i * 0.37 + k)
            if p.ndim >= 2:
                v = s * 1.5 / math.sqrt(p.numel() / p.shape[0])
            elif "norm" in name.split(".")[-2] and name.endswith(".weight"):
                v = 1 + 0.2 * s
            else:
                v = 0.1 * s
            p.copy_(v.to(torch.float32).reshape(p.shape))


def time_proj(model, t):
    return model.time_proj(t).float()


def write_io(path, model, x, t):
    model.eval()
    with torch.no_grad():
        eps = model(x, t).sample
        temb = time_proj(model, t)
    save_file({"x": x.contiguous(), "t": t.contiguous(), "temb": temb.contiguous(),
               "eps": eps.contiguous()}, path, metadata={"format": "pt"})
    print(path, "eps std %.4f max|eps| %.4f" % (eps.std().item(), eps.abs().max().item()))
    return eps


def small_attn():
    torch.manual_seed(1234)
    model = UNet2DModel(
        sample_size=16, in_channels=3, out_channels=3, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=8, norm_eps=1e-6, flip_sin_to_cos=False, freq_shift=1,
        downsample_padding=0)
    randomize(model, 1)
    out = os.path.join(HERE, "small_attn")
    model.save_pretrained(out, safe_serialization=True)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 3, 16, 16, generator=g)
    t = torch.tensor([0, 37, 999], dtype=torch.int64)
    write_io(os.path.join(HERE, "small_attn_io.safetensors"), model, x, t)
    print("small_attn params", sum(p.numel() for p in model.parameters()))


def legacy_f16():
    torch.manual_seed(1234)
    model = UNet2DModel(
        sample_size=16, in_channels=1, out_channels=1, block_out_channels=(16, 16, 32), layers_per_block=2,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attn_norm_num_groups=4, attention_head_dim=None, flip_sin_to_cos=True,
        freq_shift=0, downsample_padding=1, center_input_sample=True, mid_block_scale_factor=2,
        time_embedding_dim=48)
    randomize(model, 3)
    with torch.no_grad():  # the reference runs on exactly what the F16 file holds
        for p in model.parameters():
            p.copy_(p.half().float())
    folder = os.path.join(HERE, "legacy_f16")
    unet = os.path.join(folder, "unet")
    model.save_pretrained(unet, safe_serialization=True)
    state = load_file(os.path.join(unet, WEIGHTS))
    legacy = {}
    for name, tensor in state.items():
        for new, old in ((".to_q.", ".query."), (".to_k.", ".key."), (".to_v.", ".value."),
                         (".to_out.0.", ".proj_attn.")):
            if ".attentions." in name and new in name:
                name = name.replace(new, old)
        legacy[name] = tensor.half().contiguous()
    assert any(".proj_attn." in n for n in legacy)
    save_file(legacy, os.path.join(unet, WEIGHTS), metadata={"format": "pt"})
    g = torch.Generator().manual_seed(4)
    x = torch.rand(3, 1, 16, 16, generator=g)  # center_input_sample maps [0, 1] to [-1, 1]
    t = torch.tensor([5, 250, 731], dtype=torch.int64)
    eps = write_io(os.path.join(HERE, "legacy_f16_io.safetensors"), model, x, t)
    # diffusers itself must read the legacy F16 folder back to the same network.
    back = UNet2DModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float32).eval()
    with torch.no_grad():
        assert torch.allclose(back(x, t).sample, eps, atol=1e-5)
    print("legacy_f16 params", sum(p.numel() for p in model.parameters()))


def ddpm_cifar10():
    model = UNet2DModel(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(128, 256, 256, 256),
        layers_per_block=2, down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), attention_head_dim=None,
        norm_num_groups=32, norm_eps=1e-6, downsample_padding=0, flip_sin_to_cos=False, freq_shift=1)
    params = sorted(model.named_parameters())
    total = sum(p.numel() for _, p in params)
    with open(os.path.join(HERE, "ddpm_cifar10_params.txt"), "w") as f:
        for name, p in params:
            f.write("%s %s\n" % (name, json.dumps(list(p.shape))))
        f.write("tensors: %d params: %d\n" % (len(params), total))
    formula_fill(model)
    n = 2 * 3 * 32 * 32
    x = (0.8 * torch.sin(0.013 * torch.arange(n, dtype=torch.float64))).to(torch.float32).reshape(2, 3, 32, 32)
    t = torch.tensor([10, 500], dtype=torch.int64)
    write_io(os.path.join(HERE, "ddpm_cifar10_io.safetensors"), model, x, t)
    print("ddpm_cifar10 params", total)


if __name__ == "__main__":
    torch.set_num_threads(2)
    small_attn()
    legacy_f16()
    ddpm_cifar10()
