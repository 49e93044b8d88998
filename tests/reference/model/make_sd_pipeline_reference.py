#!/usr/bin/env python3
"""Reference data for tests/pipeline: two tiny random-weight diffusers StableDiffusionPipelines and
what `pipe(...)` makes of two prompts, which diffmem's text-to-image pipeline must match.

Run from the repository root with a Python that has torch, diffusers, transformers, safetensors:
    python3 tests/reference/model/make_sd_pipeline_reference.py
Writes, next to this script:
  sd_tiny_v1/   StableDiffusionPipeline.save_pretrained(safe_serialization=True): model_index.json,
                unet/ vae/ text_encoder/ tokenizer/ scheduler/ (safety_checker, feature_extractor
                None; requires_safety_checker False). SD-1.x-shaped:
                text_encoder  CLIPTextModel, vocab 2514 (the small-vocabulary tokenizer), hidden 32,
                              3 layers, 4 heads, intermediate 64, quick_gelu, bos 0 / eos 2 / pad 1
                              in the config as the Hub's (eos 2: pooled row = argmax id)
                tokenizer     clip_tokenizer/small_files, pad "<|endoftext|>" (2513), max length 77
                unet          as make_unet_cond_reference.py's unet_cond_sd1 with cross_attention_dim
                              32, sample_size 8
                vae           as make_vae_reference.py's vae_tiny (8, 16, 16; factor 4),
                              scaling_factor 0.18215
                scheduler     PNDMScheduler, SD 1.x's config (skip_prk_steps, steps_offset 1,
                              scaled_linear 0.00085..0.012, set_alpha_to_one False)
                Both F32 (*.safetensors) and F16 (*.fp16.safetensors, save_pretrained(variant="fp16")
                of a .half() copy) weights; the configs are the F32 save's.
  sd_tiny_v2/   SD-2.x-shaped, F32 only: text_encoder hidden 48, 2 layers, 4 heads, intermediate 96,
                gelu; tokenizer pad "!" (id 0) as SD 2.x's; unet SD-2.x-shaped like unet_cond_sd2
                but block_out_channels (16, 16, 32), attention_head_dim [2, 2, 4] (8-channel heads
                everywhere, mid block 4 heads), linear projections, upcast_attention,
                cross_attention_dim 48, sample_size 8; vae as v1's shape (other weights);
                scheduler DDIMScheduler with SD 2.1's config (prediction_type v_prediction,
                scaled_linear 0.00085..0.012, steps_offset 1, set_alpha_to_one False, clip_sample
                False, timestep_spacing leading)
  tokenizer/ also gets vocab.json and merges.txt copied from small_files (the Hub's layout;
  transformers 5 itself writes only tokenizer.json and tokenizer_config.json).
  sd_tiny_v1_images.safetensors, sd_tiny_v2_images.safetensors (F32 unless stated):
      prompt_ids [2,77] i64       tokenizer(PROMPTS, padding="max_length", max_length=77)
      uncond_ids [1,77] i64       the same for "" (the unconditional prompt of CFG)
      prompt_embeds [2,77,H]      text_encoder(prompt_ids)[0] (last_hidden_state)
      uncond_embeds [1,77,H]
      init_noise_sigma []         scheduler.init_noise_sigma
      init_latents [2,4,8,8]      randn_tensor([1,4,8,8], generator=Generator().manual_seed(s)) *
                                  init_noise_sigma for s = 0 (row 0) and 1 (row 1): exactly what
                                  prepare_latents draws from generator=[seed 0, seed 1]
      timesteps [S] i64           scheduler.timesteps after set_timesteps(10) (PNDM: S = 11)
      <run>_images [N,32,32,3] u8 (pipe(..., output_type="np") * 255).round().astype(uint8)
      <run>_images_float [N,32,32,3]  pipe(..., output_type="np") (after denormalize, in [0, 1])
      <run>_latents [S,N,4,8,8]   latents after each scheduler step (callback_on_step_end)
      <run>_unet_in [S,M,4,8,8]   the UNet's input each step (after scale_model_input)
      <run>_unet_out [S,M,4,8,8]  the UNet's raw output each step (M = 2N with CFG:
                                  rows 0..N-1 unconditional, N..2N-1 conditional)
  runs: "cfg" PROMPTS, guidance_scale 7.5, generator [seed 0, seed 1];
        "nocfg" the same with guidance_scale 1.0 (no CFG, M = N);
        "neg" PROMPTS[0] alone, negative_prompt NEGATIVE, guidance 7.5, generator [seed 0]
        (also stored: neg_negative_ids [1,77] i64, neg_negative_embeds [1,77,H]).
  All runs: height = width = 32, num_inference_steps 10, eta 0 (default), F32, CPU.
Weights: default initialisation under torch.manual_seed(seed) per component, then every 1-D
parameter += randn * 0.1 (norm scales, biases) so that every parameter matters.
"""
import copy
import os
import shutil

import numpy as np
import torch
from diffusers import (AutoencoderKL, DDIMScheduler, PNDMScheduler, StableDiffusionPipeline,
                       UNet2DConditionModel)
from diffusers.utils.torch_utils import randn_tensor
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
SMALL_TOK = os.path.join(HERE, "clip_tokenizer", "small_files")
PROMPTS = ["a photo of an astronaut riding a horse", "an oil painting of a cat, highly detailed"]
NEGATIVE = "blurry, low quality"
SEEDS = (0, 1)
STEPS = 10
SIZE = 32

SCHED_SD1 = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                 beta_schedule="scaled_linear", trained_betas=None, skip_prk_steps=True,
                 set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading")
SCHED_SD2 = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                 beta_schedule="scaled_linear", trained_betas=None, clip_sample=False,
                 set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction",
                 timestep_spacing="leading")


def perturb(model, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def text_encoder(vocab, hidden, layers, inter, act, seed):
    torch.manual_seed(seed)
    cfg = CLIPTextConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter,
                         num_hidden_layers=layers, num_attention_heads=4,
                         max_position_embeddings=77, hidden_act=act, layer_norm_eps=1e-5,
                         projection_dim=hidden, bos_token_id=0, eos_token_id=2, pad_token_id=1)
    return perturb(CLIPTextModel(cfg), seed + 100)


def vae(seed):
    torch.manual_seed(seed)
    m = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 3,
                      up_block_types=["UpDecoderBlock2D"] * 3, block_out_channels=[8, 16, 16],
                      layers_per_block=2, latent_channels=4, norm_num_groups=4, sample_size=SIZE,
                      scaling_factor=0.18215)
    return perturb(m, seed + 100)


def unet_v1(cross, seed):
    torch.manual_seed(seed)
    m = UNet2DConditionModel(
        sample_size=SIZE // 4, in_channels=4, out_channels=4, block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), layers_per_block=1,
        cross_attention_dim=cross, attention_head_dim=8, norm_num_groups=8, norm_eps=1e-5,
        flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, act_fn="silu",
        use_linear_projection=False, upcast_attention=False)
    return perturb(m, seed + 100)


def unet_v2(cross, seed):
    torch.manual_seed(seed)
    m = UNet2DConditionModel(
        sample_size=SIZE // 4, in_channels=4, out_channels=4, block_out_channels=(16, 16, 32),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1, cross_attention_dim=cross, attention_head_dim=[2, 2, 4],
        norm_num_groups=8, norm_eps=1e-5, flip_sin_to_cos=True, freq_shift=0,
        downsample_padding=1, act_fn="silu", use_linear_projection=True, upcast_attention=True)
    return perturb(m, seed + 100)


def make_pipe(version):
    if version == 1:
        tok = CLIPTokenizer.from_pretrained(SMALL_TOK, model_max_length=77)
        te = text_encoder(len(tok), 32, 3, 64, "quick_gelu", seed=10)
        un, sch = unet_v1(32, seed=11), PNDMScheduler(**SCHED_SD1)
    else:
        tok = CLIPTokenizer.from_pretrained(SMALL_TOK, model_max_length=77, pad_token="!")
        assert tok.pad_token_id == 0
        te = text_encoder(len(tok), 48, 2, 96, "gelu", seed=20)
        un, sch = unet_v2(48, seed=21), DDIMScheduler(**SCHED_SD2)
    return StableDiffusionPipeline(vae=vae(seed=12 if version == 1 else 22), text_encoder=te,
                                   tokenizer=tok, unet=un, scheduler=sch, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


def save_pipe(pipe, folder, fp16):
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    if fp16:  # first, so that the F32 save below leaves F32 configs (transformers records dtype)
        half = copy.deepcopy(pipe).to(torch.float16)
        half.save_pretrained(folder, safe_serialization=True, variant="fp16")
    pipe.save_pretrained(folder, safe_serialization=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(SMALL_TOK, name), os.path.join(folder, "tokenizer", name))


def ids(tok, text):
    return tok(text, padding="max_length", max_length=tok.model_max_length, truncation=True,
               return_tensors="pt").input_ids


def run(pipe, out, key, prompt, guidance, seeds, negative=None):
    unet_in, unet_out, lat = [], [], []

    def hook(_mod, args, kwargs, output):
        x = args[0] if args else kwargs["sample"]
        unet_in.append(x.detach().clone())
        unet_out.append((output[0] if isinstance(output, tuple) else output.sample).detach().clone())

    def on_step(_pipe, _i, _t, kw):
        lat.append(kw["latents"].detach().clone())
        return kw

    h = pipe.unet.register_forward_hook(hook, with_kwargs=True)
    try:
        img = pipe(prompt, negative_prompt=negative, height=SIZE, width=SIZE,
                   num_inference_steps=STEPS, guidance_scale=guidance,
                   generator=[torch.Generator().manual_seed(s) for s in seeds], output_type="np",
                   callback_on_step_end=on_step,
                   callback_on_step_end_tensor_inputs=["latents"]).images
    finally:
        h.remove()
    out[key + "_images"] = torch.from_numpy((img * 255).round().astype("uint8"))
    out[key + "_images_float"] = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    out[key + "_latents"] = torch.stack(lat)
    out[key + "_unet_in"] = torch.stack(unet_in)
    out[key + "_unet_out"] = torch.stack(unet_out)
    return img


def check_reload(folder, out, variant=None):
    """diffusers itself must load the folder back to the same CFG images."""
    dtype = torch.float16 if variant else torch.float32
    back = StableDiffusionPipeline.from_pretrained(folder, variant=variant, dtype=dtype)
    assert torch.equal(ids(back.tokenizer, PROMPTS), out["prompt_ids"])
    if variant:
        assert back.unet.dtype == torch.float16 and back.text_encoder.dtype == torch.float16
        return
    back.set_progress_bar_config(disable=True)
    img = back(PROMPTS, height=SIZE, width=SIZE, num_inference_steps=STEPS, guidance_scale=7.5,
               generator=[torch.Generator().manual_seed(s) for s in SEEDS], output_type="np").images
    diff = np.abs(img - out["cfg_images_float"].numpy()).max()
    assert diff == 0, "reload changed the images by %g" % diff


def clip_skip_probe(pipe):
    """diffusers' clip_skip path calls text_encoder.text_model.final_layer_norm; report if broken."""
    try:
        pipe.encode_prompt(PROMPTS[:1], "cpu", 1, False, clip_skip=1)
        return "works"
    except AttributeError as e:
        return "AttributeError: %s" % e


def make(version):
    pipe = make_pipe(version)
    pipe.set_progress_bar_config(disable=True)
    name = "sd_tiny_v%d" % version
    folder = os.path.join(HERE, name)
    save_pipe(pipe, folder, fp16=(version == 1))
    tok, sch = pipe.tokenizer, pipe.scheduler
    out = {"prompt_ids": ids(tok, PROMPTS), "uncond_ids": ids(tok, [""])}
    with torch.no_grad():
        out["prompt_embeds"] = pipe.text_encoder(out["prompt_ids"])[0]
        out["uncond_embeds"] = pipe.text_encoder(out["uncond_ids"])[0]
        pe, ne = pipe.encode_prompt(PROMPTS, "cpu", 1, True, [""] * 2)
    assert torch.equal(pe, out["prompt_embeds"]) and torch.equal(ne[:1], out["uncond_embeds"])
    out["init_noise_sigma"] = torch.tensor(float(sch.init_noise_sigma), dtype=torch.float32)
    out["init_latents"] = torch.cat([
        randn_tensor((1, 4, SIZE // 4, SIZE // 4), generator=torch.Generator().manual_seed(s),
                     dtype=torch.float32) for s in SEEDS]) * sch.init_noise_sigma
    sch.set_timesteps(STEPS)
    out["timesteps"] = sch.timesteps.clone()
    run(pipe, out, "cfg", PROMPTS, 7.5, SEEDS)
    # The pipeline's own first draw must be the init_latents above.
    expect = sch.scale_model_input(out["init_latents"], out["timesteps"][0])
    assert torch.equal(out["cfg_unet_in"][0][:2], expect)
    run(pipe, out, "nocfg", PROMPTS, 1.0, SEEDS)
    run(pipe, out, "neg", PROMPTS[:1], 7.5, SEEDS[:1], negative=[NEGATIVE])
    out["neg_negative_ids"] = ids(tok, [NEGATIVE])
    with torch.no_grad():
        out["neg_negative_embeds"] = pipe.text_encoder(out["neg_negative_ids"])[0]
    out = {k: v.contiguous() for k, v in out.items()}
    save_file(out, os.path.join(HERE, name + "_images.safetensors"), metadata={"format": "pt"})
    check_reload(folder, out)
    if version == 1:
        check_reload(folder, out, variant="fp16")
    files = sorted(os.path.relpath(os.path.join(r, f), folder)
                   for r, _, fs in os.walk(folder) for f in fs)
    print(name, "files:", files)
    print(name, "timesteps", out["timesteps"].tolist(), out["timesteps"].dtype)
    print(name, "cfg image mean %.4f, nocfg %.4f, neg %.4f; clip_skip: %s" % (
        out["cfg_images_float"].mean(), out["nocfg_images_float"].mean(),
        out["neg_images_float"].mean(), clip_skip_probe(pipe)))


if __name__ == "__main__":
    torch.set_num_threads(2)
    make(1)
    make(2)
