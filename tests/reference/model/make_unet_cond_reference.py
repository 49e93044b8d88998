#!/usr/bin/env python3
"""Reference data for tests/model: diffusers' UNet2DConditionModel outputs that diffmem's
UNet2DConditionModel must match.

Run from the repository root with a Python that has torch, diffusers and safetensors:
    python3 tests/reference/model/make_unet_cond_reference.py
Writes, next to this script, two random-weight models (save_pretrained, safe_serialization, F32):
  unet_cond_sd1/   SD-1.x-shaped: block_out_channels (16, 32), down (CrossAttnDownBlock2D,
                   DownBlock2D), up (UpBlock2D, CrossAttnUpBlock2D), layers_per_block 1,
                   cross_attention_dim 32, attention_head_dim 8 (diffusers reads it as the number
                   of heads on every level, as SD 1.x: 8 heads of 2 channels at level 0, and in
                   the mid block 8 heads of 4), time embedding 64,
                   norm_num_groups 8, sample_size 16, in/out 4, conv proj_in/proj_out
                   (use_linear_projection False), upcast_attention False
  unet_cond_sd2/   SD-2.x-shaped: block_out_channels (16, 32, 32), down (CrossAttnDownBlock2D x2,
                   DownBlock2D), up (UpBlock2D, CrossAttnUpBlock2D x2), layers_per_block 1,
                   cross_attention_dim 48, attention_head_dim [2, 4, 4] (heads per level, as SD 2's
                   [5, 10, 20, 20] which gives 64-channel heads: here 2 heads of 8, 4 of 8, mid
                   block attention_head_dim[-1] = 4 heads of 8),
                   norm_num_groups 8, linear proj_in/proj_out (use_linear_projection True),
                   upcast_attention True (SD 2.x is v-prediction; the network does not know that)
  unet_cond_sd1_io.safetensors, unet_cond_sd2_io.safetensors (all F32 unless stated)
      sample [2,4,16,16]; timestep [2] i64 = [10, 700];
      encoder_hidden_states [2,77,C] (C = cross_attention_dim);
      temb [2,16] = model.time_proj(timestep) (sinusoidal, flip_sin_to_cos, freq_shift 0);
      output [2,4,16,16] = model(sample, timestep, encoder_hidden_states).sample;
      timestep_float [] f64 = 333.25, and output_float [2,4,16,16] = model(sample, 333.25, ehs)
      (a Python float: diffusers makes it a float64 tensor, expands it to the batch, and
      time_proj computes in f32 from there — as the Euler schedulers' float timesteps do)
Inputs: sample, encoder_hidden_states = torch.randn(..., generator=torch.Generator().manual_seed(s))
with s = 11 (sample) and 12 (encoder_hidden_states) for sd1, 21 and 22 for sd2.
Weights: diffusers' default initialisation under torch.manual_seed(1) (sd1) / (2) (sd2), then every
1-D parameter (norm scales, biases) += randn * 0.1 so that every parameter matters.
"""
import os

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))

SD1 = dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(16, 32),
           down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
           up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), layers_per_block=1,
           cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8, norm_eps=1e-5,
           flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, act_fn="silu",
           use_linear_projection=False, upcast_attention=False)
SD2 = dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(16, 32, 32),
           down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
           up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
           layers_per_block=1, cross_attention_dim=48, attention_head_dim=[2, 4, 4],
           norm_num_groups=8, norm_eps=1e-5, flip_sin_to_cos=True, freq_shift=0,
           downsample_padding=1, act_fn="silu", use_linear_projection=True, upcast_attention=True)


def build(cfg, seed):
    torch.manual_seed(seed)
    model = UNet2DConditionModel(**cfg).eval()
    with torch.no_grad():  # non-trivial norms and biases (init leaves them at 1 and 0)
        for _, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def make(name, cfg, seed, s_sample, s_ehs):
    model = build(cfg, seed)
    model.save_pretrained(os.path.join(HERE, name), safe_serialization=True)
    c = cfg["cross_attention_dim"]
    sample = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(s_sample))
    ehs = torch.randn(2, 77, c, generator=torch.Generator().manual_seed(s_ehs))
    timestep = torch.tensor([10, 700], dtype=torch.int64)
    with torch.no_grad():
        out = model(sample, timestep, encoder_hidden_states=ehs).sample
        out_f = model(sample, 333.25, encoder_hidden_states=ehs).sample
        temb = model.time_proj(timestep).float()
    save_file({"sample": sample, "timestep": timestep, "encoder_hidden_states": ehs,
               "temb": temb.contiguous(), "output": out.contiguous(),
               "timestep_float": torch.tensor(333.25, dtype=torch.float64),
               "output_float": out_f.contiguous()},
              os.path.join(HERE, name + "_io.safetensors"), metadata={"format": "pt"})
    n = sum(p.numel() for p in model.parameters())
    print("%s: %d parameters, output std %.4f max|.| %.4f, float-t output std %.4f" % (
        name, n, out.std().item(), out.abs().max().item(), out_f.std().item()))


if __name__ == "__main__":
    torch.set_num_threads(2)
    make("unet_cond_sd1", SD1, seed=1, s_sample=11, s_ehs=12)
    make("unet_cond_sd2", SD2, seed=2, s_sample=21, s_ehs=22)
