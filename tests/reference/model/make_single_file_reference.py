#!/usr/bin/env python3
"""Original (CompVis / "v1-5-pruned-emaonly.safetensors" style) single-file checkpoints made from
the tiny diffusers pipelines, and the name lists the C++ single-file name mapping
(src/model/single_file_names.cpp) is checked against.

Run from the repository root with a Python that has torch, diffusers 0.42 and transformers 5:
    python3 tests/reference/model/make_single_file_reference.py
Runs on CPU in seconds; full-size models are built on the meta device (no weights, nothing
downloaded). Writes, next to this script:
  sd_tiny_v1_single.safetensors   sd_tiny_v1 (SD 1.x layout: conv proj_in, CLIP text encoder under
                                  cond_stage_model.transformer.text_model.*) as one CompVis file, F32
  sd_tiny_v2_single.safetensors   sd_tiny_v2 (SD 2.x layout: linear proj_in/out, OpenCLIP text
                                  encoder under cond_stage_model.model.*) as one CompVis file, F32
  sd_tiny_v1_single_names.txt     one line per tensor of the file above (see FORMAT)
  sd_tiny_v2_single_names.txt
  sd15_single_names.txt           the same lists for full-size SD 1.5 and SD 2.1 (768-v),
  sd21_single_names.txt           configurations from make_sd_params.py; names only
Both .safetensors stay F32 (v2 is ~2.1 MB) so that a single-file load can be compared bit for bit
with the folder pipeline it came from.

The files are written by an explicit diffusers -> CompVis renamer (the inverse of diffusers'
loaders/single_file_utils.py), then PROVED by diffusers' own forward conversion:
  convert_ldm_unet_checkpoint(ckpt, unet_config), convert_ldm_vae_checkpoint(ckpt, vae_config),
  convert_ldm_clip_checkpoint(ckpt) (SD1), convert_open_clip_checkpoint(text_model, ckpt) (SD2),
with the "text_model." prefix removed as create_diffusers_clip_model_from_ldm does for
transformers >= 5.6. Every tensor they return must equal the folder's tensor (tiny; real values)
or have the model's shape (full size; meta tensors), and the name sets must match exactly. For the
tiny pipelines StableDiffusionPipeline.from_single_file(file, config=<tiny folder>,
local_files_only=True) is also run and its unet/vae/text_encoder state dicts compared.

Extras real checkpoints carry and a loader must ignore are included: the DDPM schedule tables
(betas, alphas_cumprod, ... from ldm's DDPM.register_schedule), model_ema.decay /
model_ema.num_updates plus two flattened EMA copies (model_ema.diffusion_model<name without dots>,
as non-pruned files hold), SD1 cond_stage_model.transformer.text_model.embeddings.position_ids,
SD2 cond_stage_model.model.{text_projection, logit_scale} and one more OpenCLIP resblock than the
diffusers text encoder has: SD 2.x conditions on the penultimate layer, so diffusers' SD2 text
encoder has 23 of OpenCLIP ViT-H's 24 layers (convert_open_clip_checkpoint drops resblocks.23 by
name, SD_2_TEXT_ENCODER_KEYS_TO_IGNORE; for the tiny v2 it keeps the extra layer 2 and only
from_single_file's non-strict load drops it).

FORMAT of the names files: '#' lines are comments; "# layout K=V ..." gives unet_blocks,
unet_layers_per_block, vae_blocks, vae_layers_per_block, text_layers (of the diffusers text
encoder) and open_clip (0/1), from the diffusers configs. Then one line per mapped tensor:
  <compvis_name> <unet|vae|text_encoder> <diffusers_name> <none|squeeze_1x1|split:q|split:k|split:v>
(diffusers_name as in the component folder's safetensors; text encoder names without the
"text_model." prefix, as transformers 5 saves them; an OpenCLIP in_proj tensor has three lines),
and one line per key to ignore:  <compvis_name> ignore - -
"""
import importlib.util
import json
import math
import os
import re

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders import single_file_utils as sfu
from transformers import CLIPTextConfig, CLIPTextModel

HERE = os.path.dirname(os.path.abspath(__file__))
UNET, VAE, TEXT = "model.diffusion_model.", "first_stage_model.", "cond_stage_model."


# ---------------------------------------------------------------- diffusers -> CompVis renamer
def unet_resnet(rest):
    # inverse of update_unet_resnet_ldm_to_diffusers
    for new, old in (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
                     ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"),
                     ("conv_shortcut", "skip_connection")):
        if rest.startswith(new + "."):
            return old + rest[len(new):]
    raise KeyError(rest)


def unet_name(name, lpb, attn_up):
    """CompVis name of a UNet2DConditionModel parameter (inverse of convert_ldm_unet_checkpoint)."""
    fixed = sfu.DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]  # diffusers -> ldm, as diffusers has it
    if name in fixed:
        return UNET + fixed[name]
    per = lpb + 1  # CompVis slots per down block: lpb layers and a downsampler
    m = re.match(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.*)", name)
    if m:
        b, kind, l, rest = int(m[1]), m[2], int(m[3]), m[4]
        if kind == "downsamplers":
            assert rest.startswith("conv.")
            return UNET + "input_blocks.%d.0.op.%s" % (1 + b * per + lpb, rest[5:])
        slot = 1 + b * per + l
        if kind == "resnets":
            return UNET + "input_blocks.%d.0.%s" % (slot, unet_resnet(rest))
        return UNET + "input_blocks.%d.1.%s" % (slot, rest)
    m = re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", name)
    if m:
        if m[1] == "resnets":
            return UNET + "middle_block.%d.%s" % (2 * int(m[2]), unet_resnet(m[3]))
        return UNET + "middle_block.1." + m[3]
    m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.*)", name)
    if m:
        b, kind, l, rest = int(m[1]), m[2], int(m[3]), m[4]
        if kind == "upsamplers":  # after the last layer's resnet (.0) and attention (.1) if any
            return UNET + "output_blocks.%d.%d.%s" % (b * per + lpb, 2 if attn_up[b] else 1, rest)
        slot = b * per + l
        if kind == "resnets":
            return UNET + "output_blocks.%d.0.%s" % (slot, unet_resnet(rest))
        return UNET + "output_blocks.%d.1.%s" % (slot, rest)
    raise KeyError(name)


VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_rest(rest):
    return rest.replace("conv_shortcut", "nin_shortcut")


def vae_name(name, nblocks):
    """(CompVis name, transform) of an AutoencoderKL parameter (inverse of convert_ldm_vae_checkpoint)."""
    fixed = sfu.DIFFUSERS_TO_LDM_MAPPING["vae"]
    if name in fixed:
        return VAE + fixed[name], "none"
    m = re.match(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.*)", name)
    if m:
        side, kind, i, rest = m[1], m[2], int(m[3]), m[4]
        if kind == "resnets":
            return VAE + "%s.mid.block_%d.%s" % (side, i + 1, vae_rest(rest)), "none"
        part, leaf = rest.rsplit(".", 1)
        t = "squeeze_1x1" if leaf == "weight" and part != "group_norm" else "none"
        return VAE + "%s.mid.attn_1.%s.%s" % (side, VAE_ATTN[part], leaf), t
    m = re.match(r"encoder\.down_blocks\.(\d+)\.(resnets|downsamplers)\.(\d+)\.(.*)", name)
    if m:
        if m[2] == "downsamplers":
            return VAE + "encoder.down.%s.downsample.%s" % (m[1], m[4]), "none"
        return VAE + "encoder.down.%s.block.%s.%s" % (m[1], m[3], vae_rest(m[4])), "none"
    m = re.match(r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.*)", name)
    if m:
        i = nblocks - 1 - int(m[1])  # CompVis numbers decoder levels from the lowest resolution up
        if m[2] == "upsamplers":
            return VAE + "decoder.up.%d.upsample.%s" % (i, m[4]), "none"
        return VAE + "decoder.up.%d.block.%s.%s" % (i, m[3], vae_rest(m[4])), "none"
    raise KeyError(name)


def clip_name(name):
    return TEXT + "transformer.text_model." + name


def open_clip_name(name):
    """(CompVis name, transform) of a CLIPTextModel parameter in OpenCLIP layout (inverse of
    convert_open_clip_checkpoint)."""
    p = TEXT + "model."
    fixed = {"embeddings.token_embedding.weight": "token_embedding.weight",
             "embeddings.position_embedding.weight": "positional_embedding",
             "final_layer_norm.weight": "ln_final.weight", "final_layer_norm.bias": "ln_final.bias"}
    if name in fixed:
        return p + fixed[name], "none"
    m = re.match(r"encoder\.layers\.(\d+)\.(.*)", name)
    if not m:
        raise KeyError(name)
    blk, rest = p + "transformer.resblocks.%s." % m[1], m[2]
    m2 = re.match(r"self_attn\.(q|k|v)_proj\.(weight|bias)", rest)
    if m2:
        return blk + "attn.in_proj_" + m2[2], "split:" + m2[1]
    for new, old in (("layer_norm1.", "ln_1."), ("layer_norm2.", "ln_2."), ("mlp.fc1.", "mlp.c_fc."),
                     ("mlp.fc2.", "mlp.c_proj."), ("self_attn.out_proj.", "attn.out_proj.")):
        if rest.startswith(new):
            return blk + old + rest[len(new):], "none"
    raise KeyError(name)


def extras(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012):
    """The non-model tensors every CompVis checkpoint carries (ldm DDPM.register_schedule, LitEma)."""
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_train_timesteps,
                           dtype=torch.float64) ** 2
    ac = torch.cumprod(1 - betas, 0)
    acp = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
    pv = betas * (1 - acp) / (1 - ac)
    t = {"betas": betas, "alphas_cumprod": ac, "alphas_cumprod_prev": acp,
         "sqrt_alphas_cumprod": ac.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - ac).sqrt(),
         "log_one_minus_alphas_cumprod": (1 - ac).log(), "sqrt_recip_alphas_cumprod": (1 / ac).sqrt(),
         "sqrt_recipm1_alphas_cumprod": (1 / ac - 1).sqrt(), "posterior_variance": pv,
         "posterior_log_variance_clipped": torch.log(torch.clamp(pv, min=1e-20)),
         "posterior_mean_coef1": betas * acp.sqrt() / (1 - ac),
         "posterior_mean_coef2": (1 - acp) * (1 - betas).sqrt() / (1 - ac)}
    t = {k: v.float() for k, v in t.items()}
    t["model_ema.decay"] = torch.tensor(0.9999)
    t["model_ema.num_updates"] = torch.tensor(0, dtype=torch.int32)
    return t


# ---------------------------------------------------------------- building one checkpoint
def to_compvis(unet_sd, unet_cfg, vae_sd, vae_cfg, text_sd, text_cfg, open_clip, gen=None):
    """(checkpoint dict, name lines). Tensors may be meta (full size) or real (tiny)."""
    lpb = unet_cfg["layers_per_block"]
    attn_up = ["CrossAttn" in t for t in unet_cfg["up_block_types"]]
    ckpt, lines = {}, []

    def put(key, value, comp, dname, transform):
        assert transform.startswith("split") or key not in ckpt, key
        if not transform.startswith("split"):
            ckpt[key] = value
        lines.append((key, comp, dname, transform))

    for n, v in unet_sd.items():
        put(unet_name(n, lpb, attn_up), v, "unet", n, "none")
    nvae = len(vae_cfg["down_block_types"])
    for n, v in vae_sd.items():
        key, t = vae_name(n, nvae)
        put(key, v[:, :, None, None] if t == "squeeze_1x1" else v, "vae", n, t)
    hidden, layers = text_cfg["hidden_size"], text_cfg["num_hidden_layers"]
    if not open_clip:
        for n, v in text_sd.items():
            put(clip_name(n), v, "text_encoder", n, "none")
        ckpt[clip_name("embeddings.position_ids")] = torch.arange(
            text_cfg["max_position_embeddings"], dtype=torch.int64)[None]
    else:
        stacks = {}
        for n, v in text_sd.items():
            key, t = open_clip_name(n)
            put(key, v, "text_encoder", n, t)
            if t.startswith("split"):
                stacks.setdefault(key, {})[t[-1]] = v
        for key, qkv in stacks.items():
            ckpt[key] = torch.cat([qkv["q"], qkv["k"], qkv["v"]], 0)
        # The last OpenCLIP layer, unused by SD 2.x (penultimate-layer conditioning): same shapes
        # as layer 0, so a file holds one more resblock than the diffusers text encoder.
        p0 = TEXT + "model.transformer.resblocks.0."
        for key in [k for k in ckpt if k.startswith(p0)]:
            v = ckpt[key]
            ckpt[key.replace(".0.", ".%d." % layers, 1)] = (
                v if v.is_meta else torch.randn(v.shape, generator=gen) * 0.02)
        dev = next(iter(text_sd.values())).device
        proj = torch.empty(hidden, hidden, device=dev)
        ckpt[TEXT + "model.text_projection"] = proj if dev.type == "meta" else \
            torch.randn(hidden, hidden, generator=gen) * hidden ** -0.5
        ckpt[TEXT + "model.logit_scale"] = torch.tensor(math.log(1 / 0.07), device=dev)
    for k, v in extras().items():
        ckpt[k] = v.to(next(iter(unet_sd.values())).device)
    # Non-pruned files also hold EMA copies under flattened names; two stand in for them.
    for k in ("time_embed.0.weight", "out.2.bias"):
        ckpt["model_ema.diffusion_model" + k.replace(".", "")] = ckpt[UNET + k].clone()
    mapped = {l[0] for l in lines}
    lines += [(k, "ignore", "-", "-") for k in ckpt if k not in mapped]
    return ckpt, sorted(lines)


# ---------------------------------------------------------------- proof by diffusers
def check_same(got, want, what, exact_values):
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, "%s: missing %s extra %s" % (what, missing[:5], extra[:5])
    for k, w in want.items():
        g = got[k]
        assert tuple(g.shape) == tuple(w.shape), "%s %s: %s vs %s" % (what, k, g.shape, w.shape)
        if exact_values:
            assert g.dtype == w.dtype and torch.equal(g, w), "%s %s: values differ" % (what, k)


def prove(ckpt, unet_cfg, vae_cfg, text_model, unet_sd, vae_sd, text_sd, open_clip, exact):
    """diffusers' forward conversion of `ckpt` must give back exactly the diffusers tensors."""
    check_same(sfu.convert_ldm_unet_checkpoint(ckpt, unet_cfg), unet_sd, "unet", exact)
    check_same(sfu.convert_ldm_vae_checkpoint(ckpt, vae_cfg), vae_sd, "vae", exact)
    if open_clip:
        got = sfu.convert_open_clip_checkpoint(text_model, ckpt, prefix="cond_stage_model.model.")
    else:
        assert sfu.is_clip_model(ckpt)
        got = sfu.convert_ldm_clip_checkpoint(ckpt)
    got = {k.removeprefix("text_model."): v for k, v in got.items()}
    # position_ids is a non-persistent buffer of transformers 5's CLIPTextModel; diffusers passes
    # it on and the (non-strict) load drops it. Layers past the model's count: see the docstring.
    got.pop("embeddings.position_ids", None)
    n = text_model.config.num_hidden_layers
    dropped = [k for k in got if re.match(r"encoder\.layers\.(\d+)\.", k)
               and int(k.split(".")[2]) >= n]
    assert all(k.startswith("encoder.layers.%d." % n) for k in dropped), dropped
    for k in dropped:
        got.pop(k)
    check_same(got, text_sd, "text_encoder", exact)
    return len(dropped)


def write_names(path, lines, unet_cfg, vae_cfg, text_cfg, open_clip, title):
    lay = dict(unet_blocks=len(unet_cfg["down_block_types"]),
               unet_layers_per_block=unet_cfg["layers_per_block"],
               vae_blocks=len(vae_cfg["down_block_types"]),
               vae_layers_per_block=vae_cfg["layers_per_block"],
               text_layers=text_cfg["num_hidden_layers"], open_clip=int(open_clip))
    with open(path, "w") as f:
        f.write("# %s: CompVis single-file names -> diffusers names "
                "(make_single_file_reference.py)\n" % title)
        f.write("# layout " + " ".join("%s=%d" % kv for kv in lay.items()) + "\n")
        f.write("# compvis_name component diffusers_name transform | compvis_name ignore - -\n")
        for l in lines:
            f.write(" ".join(l) + "\n")
    print("wrote %s (%d lines)" % (path, len(lines)))


def load_dir(d):
    def st(p):
        with safe_open(p, "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    cfg = lambda c: json.load(open(os.path.join(d, c, "config.json")))
    return (st(os.path.join(d, "unet", "diffusion_pytorch_model.safetensors")), cfg("unet"),
            st(os.path.join(d, "vae", "diffusion_pytorch_model.safetensors")), cfg("vae"),
            st(os.path.join(d, "text_encoder", "model.safetensors")), cfg("text_encoder"))


def tiny(tag, open_clip):
    d = os.path.join(HERE, tag)
    unet_sd, unet_cfg, vae_sd, vae_cfg, text_sd, text_cfg = load_dir(d)
    sched = json.load(open(os.path.join(d, "scheduler", "scheduler_config.json")))
    assert sched["beta_schedule"] == "scaled_linear" and sched["num_train_timesteps"] == 1000
    gen = torch.Generator().manual_seed(20240601)
    ckpt, lines = to_compvis(unet_sd, unet_cfg, vae_sd, vae_cfg, text_sd, text_cfg, open_clip, gen)
    text_model = CLIPTextModel.from_pretrained(os.path.join(d, "text_encoder"))
    dropped = prove(ckpt, unet_cfg, vae_cfg, text_model, unet_sd, vae_sd, text_sd, open_clip, True)
    path = os.path.join(HERE, tag + "_single.safetensors")
    save_file({k: v.contiguous() for k, v in ckpt.items()}, path)
    # End to end: diffusers' own single-file loader on the written file.
    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline.from_single_file(path, config=d, local_files_only=True)
    for comp, want in (("unet", unet_sd), ("vae", vae_sd), ("text_encoder", text_sd)):
        check_same(getattr(pipe, comp).state_dict(), want, "from_single_file " + comp, True)
    write_names(os.path.join(HERE, tag + "_single_names.txt"), lines, unet_cfg, vae_cfg, text_cfg,
                open_clip, tag + "_single.safetensors")
    print("%s: %d tensors, %d bytes; diffusers converters and from_single_file give back the "
          "folder's %d+%d+%d tensors exactly (%d extra OpenCLIP-layer tensors dropped)" % (
              tag, len(ckpt), os.path.getsize(path), len(unet_sd), len(vae_sd), len(text_sd),
              dropped))


def full(tag, unet_cfg, vae_cfg, text_cfg, open_clip):
    with torch.device("meta"):
        unet = UNet2DConditionModel(**unet_cfg)
        vae = AutoencoderKL(**vae_cfg)
        text = CLIPTextModel(CLIPTextConfig(**text_cfg))
    sds = [m.state_dict() for m in (unet, vae, text)]
    ckpt, lines = to_compvis(sds[0], dict(unet.config), sds[1], dict(vae.config), sds[2], text_cfg,
                             open_clip)
    dropped = prove(ckpt, dict(unet.config), dict(vae.config), text, *sds, open_clip, False)
    assert dropped == 0  # full size: diffusers' hard-coded resblocks.23 ignore list applies
    write_names(os.path.join(HERE, tag + "_single_names.txt"), lines, dict(unet.config),
                dict(vae.config), text_cfg, open_clip, tag + " (names only)")
    print("%s: %d keys; diffusers converters give back all %d+%d+%d names and shapes" % (
        tag, len(ckpt), *(len(s) for s in sds)))


if __name__ == "__main__":
    tiny("sd_tiny_v1", open_clip=False)
    tiny("sd_tiny_v2", open_clip=True)
    spec = importlib.util.spec_from_file_location("make_sd_params",
                                                  os.path.join(HERE, "make_sd_params.py"))
    sp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sp)
    full("sd15", sp.SD15_UNET, sp.SD15_VAE, sp.SD15_TEXT, open_clip=False)
    full("sd21", sp.SD21_UNET, sp.SD21_VAE, sp.SD21_TEXT, open_clip=True)
