"""Reference values for the first-step memorization screens (diffusion/sd_pipeline.h: probe;
tests/diffusion/sd_probe_test.cpp), from diffusers' own pipeline on the tiny random-weight
pipelines of tests/reference/model/make_sd_pipeline_reference.py.

Run from the repository root with a Python that has torch, diffusers 0.42 and transformers 5:
    python tests/reference/diffusion/make_sd_probe_reference.py
Writes sd_probe_reference.safetensors (metadata "prompts": the JSON list PROMPTS; seeds SEEDS,
generation i = PROMPTS[i] from Generator().manual_seed(SEEDS[i])), for <v> in sd_tiny_v1, sd_tiny_v2:
  <v>_first_norms f64 [2, FIRST]   ||d_s||_2 over the latent at each of the first FIRST steps of
                                   pipe(PROMPTS, generator=[...], num_inference_steps=STEPS,
                                   guidance_scale=7.5), where d_s = eps_cond - eps_uncond of the U-Net
                                   call at step s, captured with a forward hook on pipe.unet (rows
                                   0..1 unconditional, 2..3 conditional, as the pipeline batches
                                   them). v-prediction (sd_tiny_v2): eps = sqrt(ab_t) v +
                                   sqrt(1 - ab_t) x, x the U-Net's input, ab_t =
                                   scheduler.alphas_cumprod[t], so d = sqrt(ab_t) (v_c - v_u).
  <v>_low_cosine f64 [2]           x_T = the pipeline's initial latents (prepare_latents with the
                                   same generators), t_low = scheduler.timesteps[-LOW_FROM_END]
                                   after set_timesteps(STEPS); one U-Net call on
                                   cat([x_T, x_T]) (scale_model_input is the identity for PNDM and
                                   DDIM) with cat([uncond, cond]) at t_low; eps as above;
                                   cosine_similarity(eps_u, eps_c - eps_u, dim=1) (over channels),
                                   then the mean over the latent's pixels, per generation
  <v>_low_t i64 []                 t_low
"""
import json
import os

import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "model")
PROMPTS = ["a photo of a cat, memorized?", "an oil painting of a lighthouse at dusk"]
SEEDS = [5, 9]
STEPS = 10
FIRST = 3
LOW_FROM_END = 3


def as_eps(sched, out, x, t):
    if sched.config.prediction_type == "epsilon":
        return out
    ab = sched.alphas_cumprod[int(t)]
    assert sched.config.prediction_type == "v_prediction"
    return ab.sqrt() * out + (1 - ab).sqrt() * x


def main():
    torch.set_num_threads(1)
    out = {}
    for name in ("sd_tiny_v1", "sd_tiny_v2"):
        pipe = StableDiffusionPipeline.from_pretrained(os.path.join(MODELS, name), safety_checker=None)
        pipe.set_progress_bar_config(disable=True)
        sched = pipe.scheduler
        calls = []

        def hook(module, args, kwargs, output):
            res = output[0] if isinstance(output, tuple) else output.sample
            calls.append((args[0].detach().clone(), args[1], res.detach().clone()))

        h = pipe.unet.register_forward_hook(hook, with_kwargs=True)
        with torch.no_grad():
            pipe(PROMPTS, generator=[torch.Generator().manual_seed(s) for s in SEEDS],
                 num_inference_steps=STEPS, guidance_scale=7.5, output_type="np")
        h.remove()
        norms = []
        for x, t, o in calls[:FIRST]:
            eu = as_eps(sched, o[:2], x[:2], t)
            ec = as_eps(sched, o[2:], x[2:], t)
            norms.append((ec - eu).reshape(2, -1).norm(dim=1).double())
        out[name + "_first_norms"] = torch.stack(norms, 1).contiguous()

        with torch.no_grad():
            cond, uncond = pipe.encode_prompt(PROMPTS, "cpu", 1, True)
            gens = [torch.Generator().manual_seed(s) for s in SEEDS]
            sched.set_timesteps(STEPS)
            x_t = pipe.prepare_latents(2, 4, 32, 32, torch.float32, "cpu", gens)
            assert torch.equal(x_t, calls[0][0][:2]), "initial latents differ from the pipeline's"
            t_low = sched.timesteps[-LOW_FROM_END]
            o = pipe.unet(torch.cat([x_t, x_t]), t_low, encoder_hidden_states=torch.cat([uncond, cond])).sample
            eu = as_eps(sched, o[:2], x_t, t_low)
            ec = as_eps(sched, o[2:], x_t, t_low)
            cos = torch.nn.functional.cosine_similarity(eu, ec - eu, dim=1)
        out[name + "_low_cosine"] = cos.reshape(2, -1).mean(1).double().contiguous()
        out[name + "_low_t"] = torch.tensor(int(t_low), dtype=torch.int64)
        print(name, out[name + "_first_norms"].tolist(), out[name + "_low_cosine"].tolist(), int(t_low))
    save_file(out, os.path.join(HERE, "sd_probe_reference.safetensors"), metadata={"prompts": json.dumps(PROMPTS)})


if __name__ == "__main__":
    main()
