#!/usr/bin/env python3
"""Reference vectors for diffmem's diffusion layer, computed with diffusers' own schedulers.

Run with the pyenv python3 that has torch and diffusers:
    python3 tests/reference/diffusion/make_scheduler_reference.py
Writes scheduler_reference.json beside this script (a few tens of KB). Tensors are stored as
{"shape": [...], "data": [flat float32 values as decimal]}; the decimal strings round-trip float32
exactly.
"""
import json
import os

import numpy as np
import torch
import diffusers
from diffusers import DDIMScheduler, DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "scheduler_reference.json")

# Every 7th training index plus the ends: enough to catch any drift without storing whole arrays.
INDICES = sorted(set(list(range(0, 1000, 7)) + [1, 2, 998, 999]))


def tensor_json(t):
    a = t.detach().cpu().contiguous()
    if a.dtype == torch.uint8 or a.dtype == torch.int64:
        data = [int(v) for v in a.flatten().tolist()]
    else:
        a = a.to(torch.float32).numpy()
        data = [float(str(np.float32(v))) for v in a.flatten()]
    return {"shape": list(t.shape), "data": data}


def seeded(shape, seed, scale=1.0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale


def schedules():
    out = []
    for name, kw in [
        ("linear", dict(beta_schedule="linear")),
        ("scaled_linear", dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)),
        ("squaredcos_cap_v2", dict(beta_schedule="squaredcos_cap_v2")),
    ]:
        s = DDPMScheduler(num_train_timesteps=1000, **kw)
        out.append({
            "beta_schedule": name,
            "beta_start": s.config.beta_start,
            "beta_end": s.config.beta_end,
            "num_train_timesteps": 1000,
            "indices": INDICES,
            "betas": [float(str(np.float32(s.betas[i].item()))) for i in INDICES],
            "alphas_cumprod": [float(str(np.float32(s.alphas_cumprod[i].item()))) for i in INDICES],
            "betas_sum": float(s.betas.double().sum()),
            "alphas_cumprod_sum": float(s.alphas_cumprod.double().sum()),
        })
    # A short schedule, whole.
    s = DDPMScheduler(num_train_timesteps=10)
    out.append({
        "beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02, "num_train_timesteps": 10,
        "indices": list(range(10)),
        "betas": tensor_json(s.betas)["data"],
        "alphas_cumprod": tensor_json(s.alphas_cumprod)["data"],
        "betas_sum": float(s.betas.double().sum()),
        "alphas_cumprod_sum": float(s.alphas_cumprod.double().sum()),
    })
    return out


def timesteps():
    out = []
    for cls in (DDPMScheduler, DDIMScheduler):
        for spacing in ("leading", "trailing", "linspace"):
            for steps, offset in ((50, 0), (7, 0), (50, 1), (3, 0)):
                s = cls(num_train_timesteps=1000, timestep_spacing=spacing, steps_offset=offset)
                s.set_timesteps(steps)
                out.append({"scheduler": cls.__name__, "timestep_spacing": spacing,
                            "steps": steps, "steps_offset": offset,
                            "timesteps": [int(v) for v in s.timesteps.tolist()]})
    return out


def ddpm_steps():
    out = []
    shape = (2, 1, 4, 4)
    cases = [
        # (variance_type, clip, inference steps (None = all 1000), timesteps to test, sample scale)
        ("fixed_small", True, 50, [980, 500, 20, 0], 1.0),
        ("fixed_small", True, None, [999, 500, 1, 0], 1.0),
        ("fixed_large", True, 50, [980, 500, 20, 0], 1.0),
        ("fixed_small", False, 50, [980, 500, 20, 0], 3.0),
        ("fixed_large", False, None, [999, 300, 1, 0], 3.0),
    ]
    seed = 100
    for variance_type, clip, steps, ts, scale in cases:
        s = DDPMScheduler(variance_type=variance_type, clip_sample=clip)
        if steps is not None:
            s.set_timesteps(steps)
        for t in ts:
            seed += 1
            model_output = seeded(shape, seed)
            sample = seeded(shape, seed + 1000, scale)
            gen_seed = seed + 2000
            # diffusers draws the variance noise with randn_tensor(shape, generator) on CPU; the same
            # generator seed replayed gives the same noise, which the C++ test feeds back explicitly.
            noise = randn_tensor(shape, generator=torch.Generator().manual_seed(gen_seed))
            res = s.step(model_output, t, sample, generator=torch.Generator().manual_seed(gen_seed))
            out.append({"variance_type": variance_type, "clip_sample": clip,
                        "num_inference_steps": steps if steps is not None else 0,
                        "timestep": t, "prev_timestep": int(s.previous_timestep(t)),
                        "generator_seed": gen_seed,
                        "model_output": tensor_json(model_output), "sample": tensor_json(sample),
                        "noise": tensor_json(noise), "prev_sample": tensor_json(res.prev_sample),
                        "pred_original_sample": tensor_json(res.pred_original_sample)})
    return out


def ddim_steps():
    out = []
    shape = (2, 1, 4, 4)
    cases = [
        # (eta, spacing, set_alpha_to_one, clip, timesteps, sample scale)
        (0.0, "leading", True, True, [980, 500, 0], 1.0),
        (1.0, "leading", True, True, [980, 500, 20, 0], 1.0),
        (0.5, "trailing", True, True, [999, 519, 19], 1.0),
        (0.0, "leading", False, True, [980, 0], 1.0),
        (1.0, "leading", False, False, [980, 500, 0], 3.0),
    ]
    seed = 500
    for eta, spacing, one, clip, ts, scale in cases:
        s = DDIMScheduler(timestep_spacing=spacing, set_alpha_to_one=one, clip_sample=clip)
        s.set_timesteps(50)
        for t in ts:
            seed += 1
            model_output = seeded(shape, seed)
            sample = seeded(shape, seed + 1000, scale)
            noise = seeded(shape, seed + 2000)
            res = s.step(model_output, t, sample, eta=eta, variance_noise=noise if eta > 0 else None)
            out.append({"eta": eta, "timestep_spacing": spacing, "set_alpha_to_one": one,
                        "clip_sample": clip, "num_inference_steps": 50, "timestep": t,
                        "model_output": tensor_json(model_output), "sample": tensor_json(sample),
                        "noise": tensor_json(noise), "prev_sample": tensor_json(res.prev_sample),
                        "pred_original_sample": tensor_json(res.pred_original_sample)})
    return out


def fake_eps(x, t):
    # The C++ test double computes the same float32 expression.
    tt = t.to(torch.float32).reshape(-1, 1, 1, 1) / 1000.0
    return x * 0.9 - tt * 0.1


def pipelines():
    """The loops of diffusers' DDPMPipeline / DDIMPipeline, with one generator per image."""
    out = []
    shape = (3, 1, 4, 4)  # 16 values per image: torch's vectorized normal path, like real images
    seeds = [3, 7, 11]
    for kind, steps, eta, spacing in (("ddpm", 10, 0.0, "leading"), ("ddim", 10, 0.0, "leading"),
                                      ("ddim", 10, 1.0, "trailing"), ("ddpm", 1000, 0.0, "leading")):
        if kind == "ddpm":
            s = DDPMScheduler(variance_type="fixed_large", timestep_spacing=spacing)
        else:
            s = DDIMScheduler(timestep_spacing=spacing)
        gens = [torch.Generator().manual_seed(sd) for sd in seeds]
        image = randn_tensor(shape, generator=gens)
        s.set_timesteps(steps)
        for t in s.timesteps:
            model_output = fake_eps(image, torch.full((shape[0],), int(t), dtype=torch.int64))
            if kind == "ddpm":
                image = s.step(model_output, t, image, generator=gens).prev_sample
            else:
                image = s.step(model_output, t, image, eta=eta, generator=gens).prev_sample
        x0 = image
        pil = (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        u8 = (pil * 255).round().astype("uint8")
        out.append({"sampler": kind, "steps": steps, "eta": eta, "timestep_spacing": spacing,
                    "variance_type": s.config.get("variance_type", "fixed_small"),
                    "seeds": seeds, "final": tensor_json(x0),
                    "uint8_nhwc": tensor_json(torch.from_numpy(u8))})
    return out


def save_configs():
    """scheduler_config.json files exactly as diffusers writes them, for the config reader."""
    import shutil
    import tempfile
    for cls, kw, name in ((DDPMScheduler, dict(variance_type="fixed_large"), "ddpm_scheduler_config.json"),
                          (DDIMScheduler, dict(beta_schedule="scaled_linear", beta_start=0.00085,
                                               beta_end=0.012, clip_sample=False,
                                               set_alpha_to_one=False, steps_offset=1,
                                               timestep_spacing="trailing"),
                           "ddim_scheduler_config.json")):
        with tempfile.TemporaryDirectory() as d:
            cls(**kw).save_config(d)
            shutil.copy(os.path.join(d, "scheduler_config.json"), os.path.join(HERE, name))


def main():
    save_configs()
    ref = {
        "generator": f"make_scheduler_reference.py, diffusers {diffusers.__version__}, torch {torch.__version__}",
        "schedules": schedules(),
        "timesteps": timesteps(),
        "ddpm_steps": ddpm_steps(),
        "ddim_steps": ddim_steps(),
        "pipelines": pipelines(),
    }
    with open(OUT, "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
