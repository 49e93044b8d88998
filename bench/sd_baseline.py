#!/usr/bin/env python3
"""PyTorch-eager baseline for diffmem's text-to-image pipeline: diffusers' StableDiffusionPipeline
on a small SD-1.x-shaped model with random weights, F32, CPU.

Making the model (--make-folder DIR): StableDiffusionPipeline.save_pretrained(DIR,
safe_serialization=True), F32, safety_checker / feature_extractor None. Every component is built
under torch.manual_seed(0), then every 1-D parameter += 0.1 * randn (norm scales, biases), so
nothing is trivially zero or one.
  unet          UNet2DConditionModel, block_out_channels (64, 128, 256, 256), layers_per_block 2,
                CrossAttnDownBlock2D x3 + DownBlock2D / UpBlock2D + CrossAttnUpBlock2D x3,
                cross_attention_dim 256, attention_head_dim 8 (SD-1.x meaning: 8 heads),
                norm_num_groups 32, sample_size 32 (latents 32x32 -> images 256x256), 4 -> 4
  vae           AutoencoderKL, block_out_channels (64, 128, 256, 256), layers_per_block 2 (decoding
                one 256x256 image took 1.7-2.7 s on 2 shared cores, under the ~3 s budget that
                would have meant 1), latent_channels 4, sample_size 256, scaling_factor 0.18215
  text_encoder  CLIPTextModel, hidden 256, 4 layers, 4 heads, intermediate 1024, quick_gelu,
                max_position_embeddings 77, vocab = the tiny tokenizer's, bos 0 / eos 2 / pad 1
  tokenizer     tests/reference/model/sd_tiny_v1/tokenizer, its files copied as they are
  scheduler     PNDMScheduler as SD 1.5's (scaled_linear 0.00085..0.012, skip_prk_steps,
                set_alpha_to_one False, steps_offset 1, timestep_spacing leading)

Measuring (--model DIR --threads N --json OUT), F32, torch.set_num_threads(N), diffusers' default
attention (AttnProcessor2_0 = SDPA on torch 2.x; the class used is recorded):
  unet_step  one guided UNet forward as the pipeline makes it: latents [2B, 4, 32, 32] (the same
             B latents twice), timestep 500, encoder_hidden_states [2B, 77, 256] = text_encoder of
             B x "" then B x PROMPT; under no_grad, eval. Only tokenizer, text_encoder and unet
             are loaded. 1 warm-up call, then --rounds timed calls.
  pipeline   pipe([PROMPT] * B, num_inference_steps=S, guidance_scale=7.5, height=width=256,
             generator=[Generator().manual_seed(i) for i in range(B)], output_type="np"):
             text encoding, S+1 guided UNet calls (PNDM with skip_prk_steps repeats one
             timestep), VAE decode. 1 warm-up run with 2 steps, then --rounds timed runs.
             --images OUT.npy saves the last run's images, (img * 255).round() as uint8
             [B, 256, 256, 3].
  peak_rss_mib  resource.getrusage(RUSAGE_SELF).ru_maxrss / 1024 at the end of the part: the
             process's high-water mark, so it includes loading the weights. For each part's peak
             to be its own, --part both (the default) runs each part in a fresh subprocess of this
             script; --part unet_step|pipeline runs that part in this process.
Writes {"part", "batch", "steps", "threads", "seconds_best", "seconds_median", "peak_rss_mib",
"torch", "diffusers", "attn_processor"} to --json: one object for one part, a list of the two
objects (unet_step first) for --part both. seconds_* are per UNet call / per pipeline run;
"steps" is 1 for unet_step.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import diffusers
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER = os.path.join(REPO, "tests", "reference", "model", "sd_tiny_v1", "tokenizer")
PROMPT = "a photo of an astronaut riding a horse"
SCHED_SD1 = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                 beta_schedule="scaled_linear", trained_betas=None, skip_prk_steps=True,
                 set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading")


def seeded(build):
    torch.manual_seed(0)
    m = build()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return m.eval()


def make_folder(folder):
    if os.path.exists(folder):
        if os.listdir(folder) and not os.path.isfile(os.path.join(folder, "model_index.json")):
            sys.exit("%s exists and is not a pipeline folder; not overwriting it" % folder)
        shutil.rmtree(folder)
    tok = CLIPTokenizer.from_pretrained(TOKENIZER, model_max_length=77)
    te = seeded(lambda: CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tok), hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
        num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
        layer_norm_eps=1e-5, projection_dim=256, bos_token_id=0, eos_token_id=2,
        pad_token_id=1)))
    unet = seeded(lambda: UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, block_out_channels=(64, 128, 256, 256),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, layers_per_block=2,
        cross_attention_dim=256, attention_head_dim=8, norm_num_groups=32, norm_eps=1e-5,
        flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, act_fn="silu",
        use_linear_projection=False, upcast_attention=False))
    vae = seeded(lambda: AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(64, 128, 256, 256),
        layers_per_block=2, latent_channels=4, norm_num_groups=32, sample_size=256,
        scaling_factor=0.18215))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet,
                                   scheduler=PNDMScheduler(**SCHED_SD1), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    for name in os.listdir(TOKENIZER):
        shutil.copy(os.path.join(TOKENIZER, name), os.path.join(folder, "tokenizer", name))
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)
    for name, m in (("unet", unet), ("vae", vae), ("text_encoder", te)):
        print("  %-12s %12d parameters" % (name, sum(p.numel() for p in m.parameters())))
    print("  vocab %d; folder %s: %.1f MiB" % (len(tok), folder, size / 2**20))


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def attn_name(unet):
    names = sorted({type(p).__name__ for p in unet.attn_processors.values()})
    return names[0] if len(names) == 1 else ",".join(names)


def timed(fn, rounds):
    secs = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        secs.append(time.perf_counter() - t0)
    return min(secs), statistics.median(secs)


def unet_step(a):
    tok = CLIPTokenizer.from_pretrained(a.model, subfolder="tokenizer")
    te = CLIPTextModel.from_pretrained(a.model, subfolder="text_encoder").eval()
    unet = UNet2DConditionModel.from_pretrained(a.model, subfolder="unet").eval()
    ids = tok([""] * a.batch + [PROMPT] * a.batch, padding="max_length",
              max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
    ehs = te(ids)[0]
    c, s = unet.config.in_channels, unet.config.sample_size
    lat = torch.randn(a.batch, c, s, s, generator=torch.Generator().manual_seed(0))
    lat = torch.cat([lat] * 2)
    t = torch.tensor(500)

    def call():
        return unet(lat, t, encoder_hidden_states=ehs, return_dict=False)[0]

    call()
    return timed(call, a.rounds) + (attn_name(unet),)


def pipeline(a):
    pipe = StableDiffusionPipeline.from_pretrained(a.model)
    pipe.set_progress_bar_config(disable=True)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    out = {}

    def run(steps):
        out["img"] = pipe([PROMPT] * a.batch, num_inference_steps=steps, guidance_scale=7.5,
                          height=size, width=size, output_type="np",
                          generator=[torch.Generator().manual_seed(i)
                                     for i in range(a.batch)]).images

    run(2)
    best, med = timed(lambda: run(a.steps), a.rounds)
    if a.images:
        np.save(a.images, (out["img"] * 255).round().astype(np.uint8))
    return best, med, attn_name(pipe.unet)


def measure(a):
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    best, med, attn = (unet_step if a.part == "unet_step" else pipeline)(a)
    rec = {"part": a.part, "batch": a.batch, "steps": a.steps if a.part == "pipeline" else 1,
           "threads": a.threads, "seconds_best": best, "seconds_median": med,
           "peak_rss_mib": peak_rss_mib(), "torch": torch.__version__,
           "diffusers": diffusers.__version__, "attn_processor": attn}
    print("  %-9s B=%d S=%d T=%d  best %.3f s  median %.3f s  peak RSS %.0f MiB  (%s)" % (
        a.part, a.batch, rec["steps"], a.threads, best, med, rec["peak_rss_mib"], attn),
        flush=True)
    return rec


def both(a):
    recs = []
    with tempfile.TemporaryDirectory() as tmp:
        for part in ("unet_step", "pipeline"):
            js = os.path.join(tmp, part + ".json")
            cmd = [sys.executable, os.path.abspath(__file__), "--model", a.model, "--part", part,
                   "--threads", str(a.threads), "--json", js, "--batch", str(a.batch),
                   "--steps", str(a.steps), "--rounds", str(a.rounds)]
            if part == "pipeline" and a.images:
                cmd += ["--images", a.images]
            subprocess.run(cmd, check=True)
            with open(js) as f:
                recs.append(json.load(f))
    return recs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--make-folder", metavar="DIR")
    p.add_argument("--model", metavar="DIR")
    p.add_argument("--part", choices=("both", "unet_step", "pipeline"), default="both")
    p.add_argument("--threads", type=int)
    p.add_argument("--json")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--images", metavar="OUT.npy")
    a = p.parse_args()
    if a.make_folder:
        torch.set_num_threads(a.threads or 2)
        return make_folder(a.make_folder)
    if not (a.model and a.threads and a.json):
        p.error("measuring needs --model, --threads and --json (or give --make-folder DIR)")
    res = both(a) if a.part == "both" else measure(a)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
