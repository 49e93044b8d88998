#!/usr/bin/env python3
"""Reference data for UNet2DModel configuration variants that diffmem's UNet2D must match:
class conditioning, scale-shift time modulation, Gaussian Fourier time embedding, ResNet
down/up-sampling, a non-square sample and a learned-variance (2x channels) output.

Run from the repository root with a Python that has torch, diffusers and safetensors:
    python3 tests/reference/model/make_unet_variants_reference.py
Writes, under tests/reference/model/unet_variants/:
  <name>/config.json, <name>/diffusion_pytorch_model.safetensors   save_pretrained(safe_serialization
                     =True), F32 weights, diffusers' own parameter names
  <name>/scheduler_config.json   DDPMScheduler() defaults (variance_type "learned_range" for the
                     learned_range model), as save_config writes it
  <name>_io.safetensors  x f32, t (i64, or f32 for fourier), class_labels i64 (class_cond only),
                     temb f32 = model.time_proj(t) (the sinusoidal / Fourier features),
                     emb f32 = model.time_embedding(temb) (+ class_embedding(class_labels) for
                     class_cond) - the vector every ResNet receives -, eps f32 = model(x, t[, class_labels]).sample
Every folder is read back with UNet2DModel.from_pretrained and must give the same eps.

Common shape of all six (unless the variant says otherwise): in/out_channels 3, sample_size 8 (x is
[3,3,8,8]), block_out_channels (8, 12), layers_per_block 1, norm_num_groups 4, norm_eps 1e-5,
attention_head_dim 4, down_block_types (DownBlock2D, DownBlock2D), up_block_types (UpBlock2D,
UpBlock2D), mid UNetMidBlock2D (resnet, attention, resnet), flip_sin_to_cos True, freq_shift 0,
downsample_padding 1, time_embed_dim = 4 * 8 = 32. (block_out_channels (8, 12) rather than
(16, 32) keeps each model near 26k parameters / 110 KB; (16, 32) would be 165k.) Attention heads =
C // 4 (2 heads at 8 channels, 3 in the 12-channel mid block). t = [0, 37, 999] int64 unless stated.

Weights: make_unet_reference.randomize(model, seed) (sorted parameter names, one generator: ndim >= 2 ->
randn / sqrt(numel / shape[0]); GroupNorm scales 1 + 0.3 randn; other 1-D 0.3 randn), then the
per-variant overrides stated below.

Variants, the diffusers code they exercise, and what a C++ reimplementation must get right
(diffusers 0.42, models/unets/unet_2d.py, models/resnet.py, models/embeddings.py,
models/unets/unet_2d_blocks.py):

class_cond  num_class_embeds=10, class_embed_type None  ->  UNet2DModel.class_embedding =
    nn.Embedding(10, time_embed_dim=32); state dict "class_embedding.weight" [10, 32] (override:
    plain randn, unit scale, so it matters). forward: emb = time_embedding(time_proj(t));
    emb = emb + class_embedding.weight[class_labels] (a row lookup, no activation, added AFTER
    time_embedding.linear_2 and before the ResNets, which then apply SiLU(emb) -> time_emb_proj as
    usual). class_labels is int64 [3] = [0, 7, 3]; diffusers raises if labels are missing when the
    embedding exists (and if labels are given without it). (class_embed_type "timestep" would instead
    run time_proj + a TimestepEmbedding on the labels; "identity" adds them as is - not covered.)

scale_shift  resnet_time_scale_shift="scale_shift"  ->  every ResnetBlock2D gets
    time_embedding_norm="scale_shift": time_emb_proj = Linear(32, 2 * C_out) (weight [2C, 32]).
    ResNet forward: h = conv1(SiLU(norm1(x))); p = time_emb_proj(SiLU(emb))[:, :, None, None];
    scale, shift = p[:, :C], p[:, C:] (torch.chunk(2, dim=1): first half scale, second half shift);
    h = norm2(h) * (1 + scale) + shift  (temb is NOT added before norm2 as in "default");
    h = conv2(SiLU(h)) (dropout 0); out = (shortcut(x) + h) / output_scale_factor.
    Also: UNetMidBlock2D builds its Attention with norm_num_groups = attn_groups, and attn_groups
    defaults to resnet_groups ONLY when resnet_time_scale_shift == "default"; with scale_shift
    (and attn_norm_num_groups None) the mid-block attention has NO GroupNorm: there is no
    "mid_block.attentions.0.group_norm.*" in the state dict and attention runs on the raw input
    (residual still added). Down/up Attn blocks (not used here) keep their group_norm.

fourier  time_embedding_type="fourier"  ->  time_proj = GaussianFourierProjection(embedding_size=
    block_out_channels[0]=8, scale=16) with its own defaults log=True, flip_sin_to_cos=False,
    set_W_to_weight=True. The UNet's flip_sin_to_cos and freq_shift are NOT passed on (ignored).
    State dict name: "time_proj.weight" [8] (the module creates self.W, aliases it as self.weight and
    deletes W, so the key is ".weight", not ".W"; requires_grad False but still saved). Override:
    W = 16 * randn(8) (diffusers' own init distribution, seeded). Formula (float32 torch ops):
        x = log(t);  x_proj[b, i] = ((x[b] * W[i]) * 2) * float32(pi)   (evaluated in that order)
        temb = cat([sin(x_proj), cos(x_proj)], dim=-1)   -> [B, 16] (sin first)
    (float32(pi) = 3.14159274: the python float pi is rounded to float32 before the multiply; using
    double pi instead moves temb by up to 2e-5 here, because |x_proj| reaches ~470.)
    timestep_input_dim = 2 * block_out_channels[0] = 16, so time_embedding.linear_1 is [32, 16].
    And at the very END of forward (after conv_out): eps = sample / t (per image, t broadcast over
    C, H, W). t must be > 0 (log); here t = [0.05, 1.0, 20.0] float32 (t = 1 gives x_proj = 0:
    temb = [0]*8 + [1]*8). x_proj reaches several hundred radians, so sin/cos need full float32
    argument reduction.

resnet_resample  downsample_type="resnet", upsample_type="resnet", down_block_types
    (AttnDownBlock2D, DownBlock2D), up_block_types (AttnUpBlock2D, UpBlock2D). Only the Attn*Block2D
    builders honour downsample_type / upsample_type (DownBlock2D / UpBlock2D always use the conv
    Downsample2D / Upsample2D and ignore them), and only non-final blocks resample, so the resnet
    samplers are in down_blocks.0 and up_blocks.0:
      down_blocks.0.downsamplers.0.{norm1,conv1,time_emb_proj,norm2,conv2}.{weight,bias}
        ResnetBlock2D(8 -> 8, down=True): Downsample2D(use_conv=False) = AvgPool2d(2, stride 2),
        no weights. forward: h = SiLU(norm1(x)); x = avgpool(x); h = avgpool(h); then the usual
        h = conv1(h); h = h + time_emb_proj(SiLU(emb)); norm2; SiLU; conv2; out = x + h.
        (pooling comes AFTER norm1+SiLU on h, and the shortcut input is pooled too). The downsampler
        is called with temb (unlike the conv one) and its output is appended to the skip list.
      up_blocks.0.upsamplers.0.{norm1,conv1,time_emb_proj,norm2,conv2}.{weight,bias}
        ResnetBlock2D(12 -> 12, up=True): Upsample2D(use_conv=False) = F.interpolate(scale_factor=2,
        mode="nearest"), no weights; the same order (upsample x and SiLU(norm1(x)) after norm1+SiLU).
      No conv_shortcut in either (in == out channels). The Attn blocks: attentions.0.{group_norm,
      to_q,to_k,to_v,to_out.0} (one per resnet: 1 in down_blocks.0, 2 in up_blocks.0) with heads =
      C // attention_head_dim (8 // 4 = 2 heads in down_blocks.0, 12 // 4 = 3 in up_blocks.0 and the
      mid block).

non_square  sample_size=(8, 16) (saved as [8, 16]), x [3, 3, 8, 16]: H != W through conv, GroupNorm,
    the stride-2 conv Downsample2D (padding 1: [8,16] -> [4,8]), nearest Upsample2D and the mid
    attention over H*W = 32 tokens (row-major h * W + w); nothing else changes.

learned_range  out_channels=6, in_channels=3: conv_out is [6, 8, 3, 3] (+ bias [6]); eps is
    [3, 6, 8, 8]: channels 0..2 = the eps prediction, 3..5 = the variance value v fed to
    DDPMScheduler(variance_type="learned_range") (the scheduler_config.json in that folder), which
    splits model_output with torch.split(model_output, 3, dim=1) because 6 == 2 * 3.
"""
import math
import os
import shutil
import tempfile

import torch
from diffusers import DDPMScheduler, UNet2DModel
from safetensors.torch import save_file

from make_unet_reference import randomize  # the same weights rule as the other UNet references

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "unet_variants")
WEIGHTS = "diffusion_pytorch_model.safetensors"

COMMON = dict(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 12), layers_per_block=1,
              down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
              norm_num_groups=4, attention_head_dim=4)


def override_class(model, g):
    with torch.no_grad():
        model.class_embedding.weight.copy_(torch.randn(model.class_embedding.weight.shape, generator=g))


def override_fourier(model, g):
    with torch.no_grad():
        model.time_proj.weight.copy_(16 * torch.randn(model.time_proj.weight.shape, generator=g))


VARIANTS = [
    # (name, config overrides, t, class_labels, weight override, x spatial shape, scheduler kwargs)
    ("class_cond", dict(num_class_embeds=10), [0, 37, 999], [0, 7, 3], override_class, (8, 8), {}),
    ("scale_shift", dict(resnet_time_scale_shift="scale_shift"), [0, 37, 999], None, None, (8, 8), {}),
    ("fourier", dict(time_embedding_type="fourier"), [0.05, 1.0, 20.0], None, override_fourier, (8, 8), {}),
    ("resnet_resample", dict(downsample_type="resnet", upsample_type="resnet",
                             down_block_types=("AttnDownBlock2D", "DownBlock2D"),
                             up_block_types=("AttnUpBlock2D", "UpBlock2D")),
     [0, 37, 999], None, None, (8, 8), {}),
    ("non_square", dict(sample_size=(8, 16)), [0, 37, 999], None, None, (8, 16), {}),
    ("learned_range", dict(out_channels=6), [0, 37, 999], None, None, (8, 8), dict(variance_type="learned_range")),
]


def embeddings(model, t, labels):
    temb = model.time_proj(t).float()
    emb = model.time_embedding(temb)
    if labels is not None:
        emb = emb + model.class_embedding(labels)
    return temb, emb


def build(index, name, overrides, t_values, labels, override, hw, sched_kw):
    torch.manual_seed(1234)
    cfg = dict(COMMON, **overrides)
    model = UNet2DModel(**cfg)
    randomize(model, 100 + index)
    g = torch.Generator().manual_seed(200 + index)
    if override is not None:
        override(model, g)
    model.eval()
    folder = os.path.join(ROOT, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    model.save_pretrained(folder, safe_serialization=True)
    DDPMScheduler(**sched_kw).save_config(folder)

    x = torch.randn(3, cfg["in_channels"], *hw, generator=g)
    fourier = cfg.get("time_embedding_type") == "fourier"
    t = torch.tensor(t_values, dtype=torch.float32 if fourier else torch.int64)
    lab = torch.tensor(labels, dtype=torch.int64) if labels is not None else None
    with torch.no_grad():
        eps = model(x, t, class_labels=lab).sample
        temb, emb = embeddings(model, t, lab)
    io = {"x": x.contiguous(), "t": t.contiguous(), "temb": temb.contiguous(), "emb": emb.contiguous(),
          "eps": eps.contiguous()}
    if lab is not None:
        io["class_labels"] = lab
    io_path = os.path.join(ROOT, name + "_io.safetensors")
    save_file(io, io_path, metadata={"format": "pt"})

    back = UNet2DModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        eps_back = back(x, t, class_labels=lab).sample
    assert torch.allclose(eps_back, eps, atol=1e-6, rtol=0), name
    assert torch.isfinite(eps).all() and eps.std() > 0.05, name
    state = back.state_dict()
    names = set(state)
    if name == "class_cond":
        assert tuple(state["class_embedding.weight"].shape) == (10, 32)
        with torch.no_grad():  # the labels must matter
            assert not torch.allclose(model(x, t, class_labels=lab.flip(0)).sample, eps)
    if name == "scale_shift":
        assert tuple(state["down_blocks.0.resnets.0.time_emb_proj.weight"].shape) == (16, 32)  # 2 * C
        assert not any(n.startswith("mid_block.attentions.0.group_norm") for n in names)
    if name == "fourier":
        assert "time_proj.weight" in names and "time_proj.W" not in names
        assert tuple(state["time_embedding.linear_1.weight"].shape) == (32, 16)
        with torch.no_grad():
            xp = (torch.log(t)[:, None] * back.time_proj.weight[None, :]) * 2 * math.pi
            assert torch.equal(temb, torch.cat([torch.sin(xp), torch.cos(xp)], dim=-1))
    if name == "resnet_resample":
        assert "down_blocks.0.downsamplers.0.conv1.weight" in names
        assert "up_blocks.0.upsamplers.0.conv1.weight" in names
        assert "down_blocks.0.downsamplers.0.conv.weight" not in names
    if name == "learned_range":
        assert tuple(eps.shape) == (3, 6, 8, 8)

    nparams = sum(p.numel() for p in model.parameters())
    wsize = os.path.getsize(os.path.join(folder, WEIGHTS))
    shapes = ", ".join("%s %s %s" % (k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in io.items())
    print("%-16s params %6d  weights %7d B  io %6d B  bitwise-reload %s  eps std %.3f" % (
        name, nparams, wsize, os.path.getsize(io_path), torch.equal(eps_back, eps), eps.std().item()))
    print("%-16s io: %s" % ("", shapes))
    return wsize + os.path.getsize(io_path) + sum(
        os.path.getsize(os.path.join(folder, f)) for f in ("config.json", "scheduler_config.json"))


def main():
    torch.set_num_threads(1)
    os.makedirs(ROOT, exist_ok=True)
    total = 0
    for i, v in enumerate(VARIANTS):
        total += build(i, *v)
    print("total written under %s: %d bytes" % (ROOT, total))


if __name__ == "__main__":
    main()
