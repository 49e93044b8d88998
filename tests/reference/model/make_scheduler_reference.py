#!/usr/bin/env python3
"""Reference data for tests/pipeline: pure-scheduler traces of the diffusers schedulers that Stable
Diffusion users use, which diffmem's schedulers must match step by step.

Run from the repository root with a Python that has torch, diffusers and safetensors:
    python3 tests/reference/model/make_scheduler_reference.py
Writes, next to this script:
  schedulers_configs.json     {name: scheduler.config as saved by save_config (with _class_name)}
  schedulers_io.safetensors   shared keys:
      alphas_cumprod [1000] f32   PNDM's (the same scaled_linear betas for every scheduler)
      noise [1,4,8,8] f32         torch.randn(1,4,8,8, generator=torch.Generator().manual_seed(42))
    and per scheduler NAME (S = len(timesteps), i = 0..S-1):
      NAME.timesteps [S]          scheduler.timesteps after set_timesteps(10) (dtype as diffusers
                                  keeps it: i64 for PNDM/DDIM/DPM, f32 for the Euler ones)
      NAME.sigmas [S+1] f32       where the scheduler has sigmas (Euler, Euler a, DPM++)
      NAME.init_noise_sigma [] f32
      NAME.sample0 [1,4,8,8]      noise * init_noise_sigma (as the pipeline's prepare_latents)
      NAME.scaled [S,1,4,8,8]     x_in[i] = scheduler.scale_model_input(sample[i], t[i])
      NAME.model_output [S,1,4,8,8]
                                  m[i] = 0.3 * x_in[i] + 0.1 * math.sin(float(t[i]) / 100):
                                  torch ops on the f32 tensor with Python double scalars (the sine
                                  term is computed in double, then added as a scalar)
      NAME.prev_sample [S,1,4,8,8] sample[i+1] = scheduler.step(m[i], t[i], sample[i],
                                  generator=g).prev_sample, g = torch.Generator().manual_seed(0)
                                  created once per scheduler (passed only where step() takes a
                                  generator; only Euler a draws from it: randn_tensor per step)
      NAME.pred_original_sample [S,1,4,8,8]  where step() returns it (DDIM, Euler, Euler a)
Schedulers (all: num_train_timesteps 1000, scaled_linear 0.00085..0.012, steps_offset 1,
timestep_spacing "leading", 10 inference steps, F32, CPU):
  pndm          PNDMScheduler skip_prk_steps True, set_alpha_to_one False (SD 1.x's; S = 11)
  ddim          DDIMScheduler set_alpha_to_one False, clip_sample False, eta 0 (step default)
  ddim_v        as ddim with prediction_type v_prediction (SD 2.1-768's scheduler)
  euler         EulerDiscreteScheduler (interpolation linear, no Karras sigmas, s_churn 0)
  euler_v       as euler with prediction_type v_prediction
  euler_a       EulerAncestralDiscreteScheduler
  dpmpp_2m      DPMSolverMultistepScheduler algorithm_type dpmsolver++, solver_order 2,
                solver_type midpoint, lower_order_final True, final_sigmas_type zero
  dpmpp_2m_karras  as dpmpp_2m with use_karras_sigmas True ("DPM++ 2M Karras")
"""
import inspect
import json
import math
import os

import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, PNDMScheduler)
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 10
COMMON = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
              beta_schedule="scaled_linear", trained_betas=None, steps_offset=1,
              timestep_spacing="leading")
DPM = dict(COMMON, algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint",
           lower_order_final=True, final_sigmas_type="zero")

SCHEDULERS = [
    ("pndm", PNDMScheduler, dict(COMMON, skip_prk_steps=True, set_alpha_to_one=False)),
    ("ddim", DDIMScheduler, dict(COMMON, set_alpha_to_one=False, clip_sample=False)),
    ("ddim_v", DDIMScheduler, dict(COMMON, set_alpha_to_one=False, clip_sample=False,
                                   prediction_type="v_prediction")),
    ("euler", EulerDiscreteScheduler, dict(COMMON, interpolation_type="linear",
                                           use_karras_sigmas=False)),
    ("euler_v", EulerDiscreteScheduler, dict(COMMON, interpolation_type="linear",
                                             use_karras_sigmas=False,
                                             prediction_type="v_prediction")),
    ("euler_a", EulerAncestralDiscreteScheduler, dict(COMMON)),
    ("dpmpp_2m", DPMSolverMultistepScheduler, dict(DPM)),
    ("dpmpp_2m_karras", DPMSolverMultistepScheduler, dict(DPM, use_karras_sigmas=True)),
]


def model_fn(x_in, t):
    return 0.3 * x_in + 0.1 * math.sin(float(t) / 100.0)


def trace(name, cls, kwargs, noise, out):
    sched = cls(**kwargs)
    sched.set_timesteps(STEPS)
    g = torch.Generator().manual_seed(0)
    takes_gen = "generator" in inspect.signature(sched.step).parameters
    init = float(sched.init_noise_sigma)
    sample = noise * sched.init_noise_sigma
    out[name + ".timesteps"] = sched.timesteps.clone()
    if getattr(sched, "sigmas", None) is not None:
        out[name + ".sigmas"] = torch.as_tensor(sched.sigmas).to(torch.float32).clone()
    out[name + ".init_noise_sigma"] = torch.tensor(init, dtype=torch.float32)
    out[name + ".sample0"] = sample.clone()
    scaled, outs, prevs, x0s = [], [], [], []
    for t in sched.timesteps:
        x_in = sched.scale_model_input(sample, t)
        m = model_fn(x_in, t)
        res = sched.step(m, t, sample, **({"generator": g} if takes_gen else {}))
        sample = res.prev_sample
        scaled.append(x_in.clone())
        outs.append(m.clone())
        prevs.append(sample.clone())
        if getattr(res, "pred_original_sample", None) is not None:
            x0s.append(res.pred_original_sample.clone())
    out[name + ".scaled"] = torch.stack(scaled)
    out[name + ".model_output"] = torch.stack(outs)
    out[name + ".prev_sample"] = torch.stack(prevs)
    if x0s:
        out[name + ".pred_original_sample"] = torch.stack(x0s)
    print("%-16s S=%2d t=%s %s init_sigma %.6f final std %.4f%s" % (
        name, len(sched.timesteps), sched.timesteps.tolist(), sched.timesteps.dtype, init,
        sample.std().item(), " sigmas" if name + ".sigmas" in out else ""))
    cfg = json.loads(sched.to_json_string())
    cfg.pop("_diffusers_version", None)
    return sched, cfg


if __name__ == "__main__":
    torch.set_num_threads(2)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(42))
    out, configs = {"noise": noise}, {}
    for name, cls, kwargs in SCHEDULERS:
        sched, configs[name] = trace(name, cls, kwargs, noise, out)
        if name == "pndm":
            out["alphas_cumprod"] = sched.alphas_cumprod.to(torch.float32).clone()
    out = {k: v.contiguous() for k, v in out.items()}
    save_file(out, os.path.join(HERE, "schedulers_io.safetensors"), metadata={"format": "pt"})
    # Strict JSON: a non-finite float (DPM's lambda_min_clipped = -inf) is written as a string,
    # where diffusers' own save_config would write the non-standard -Infinity.
    def strict(v):
        if isinstance(v, float) and not math.isfinite(v):
            return str(v).replace("inf", "Infinity")
        return {k: strict(x) for k, x in v.items()} if isinstance(v, dict) else v
    with open(os.path.join(HERE, "schedulers_configs.json"), "w") as f:
        json.dump(strict(configs), f, indent=2, sort_keys=True, allow_nan=False)
        f.write("\n")
    print("wrote schedulers_io.safetensors (%d tensors) and schedulers_configs.json" % len(out))
