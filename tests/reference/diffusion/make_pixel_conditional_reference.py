"""Reference images for the two pixel-space UNet2DModel settings that need more than a forward
pass: class-conditional sampling and score-SDE VE sampling (tests/diffusion/pixel_conditional_test).

Run from the repository root with a Python that has torch and diffusers 0.42:
    python tests/reference/diffusion/make_pixel_conditional_reference.py
It reads the random-weight models of tests/reference/model/make_unet_variants_reference.py
(unet_variants/class_cond and unet_variants/fourier) and writes:

  score_sde_ve/scheduler_config.json   ScoreSdeVeScheduler(sigma_max=SIGMA_MAX) as save_config
                                       writes it (other keys: diffusers' defaults)
  pixel_conditional_reference.safetensors:
    ve_timesteps, ve_sigmas, ve_discrete_sigmas   f32 [VE_STEPS]: the scheduler's tables after
                                       set_timesteps + set_sigmas (VE_STEPS steps)
    ve_seeds i64 [2]; ve_mean f32 [2,3,8,8]: the last prev_sample_mean of the pipeline's loop, before
                                       the clamp, each image from a batch of ONE
                                       (generator=[torch.Generator().manual_seed(seed)]);
    ve_images u8 [2,8,8,3]: ScoreSdeVePipeline(...)(batch_size=1, num_inference_steps=VE_STEPS,
                                       generator=[g], output_type="np") * 255, rounded, per seed
                                       (asserted equal to clamp(ve_mean, 0, 1) * 255 rounded);
    ve_batch_mean f32 [2,3,8,8]: the same two seeds drawn as ONE batch of two by diffusers: its
                                       corrector averages gradient and noise norms over the batch,
                                       so this differs from ve_mean (diffmem keeps per-image norms
                                       and matches ve_mean in any batch)
    cc_seeds i64 [3]; cc_labels i64 [3]; cc_x f32 [3,3,8,8]: DDPMPipeline's loop
                                       (DDPMScheduler of unet_variants/class_cond, set_timesteps(
                                       CC_STEPS), one generator per image) with
                                       unet(x, t, class_labels=cc_labels) - diffusers has no
                                       pipeline class for class-conditional UNet2DModels, this is
                                       the loop DDPMPipeline runs, with the labels added; the final
                                       x before (x / 2 + 0.5).clamp(0, 1)
    cc_images u8 [3,8,8,3]: numpy_to_pil's bytes of that: round(clamp(x/2+0.5, 0, 1) * 255)

Formulas (diffusers 0.42, schedulers/scheduling_sde_ve.py, float32 torch ops):
  timesteps = linspace(1, sampling_eps, N); sigmas[i] = sigma_min * (sigma_max/sigma_min) ** t_i
  (a Python-float base raised to a float32 tensor); discrete_sigmas = exp(linspace(log sigma_min,
  log sigma_max, N)). Pipeline: x = randn * sigma_max; for each i: sigma_t = sigmas[i];
  correct_steps times: g = unet(x, sigma_t); z = randn; step = 2 (snr |z| / |g|)^2 (norms over
  C,H,W, then .mean() over the batch); x = x + step g + sqrt(2 step) z. Then g = unet(x, sigma_t);
  k = long(t_i * (N - 1)); sigma = discrete_sigmas[k], adj = k == 0 ? 0 : discrete_sigmas[k - 1];
  d = sqrt(sigma^2 - adj^2); mean = x + d^2 g; x = mean + d z. Output clamp(mean, 0, 1).
"""
import json
import os

import numpy as np
import torch
from diffusers import DDPMScheduler, ScoreSdeVeScheduler, UNet2DModel
from diffusers.pipelines.deprecated.score_sde_ve.pipeline_score_sde_ve import ScoreSdeVePipeline
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = os.path.join(HERE, "..", "model", "unet_variants")
SIGMA_MAX = 0.5  # diffusers default 1348 (or 20) saturates a random-weight 8x8 model: < 1% of values in (0, 1)
VE_STEPS = 6
VE_SEEDS = [3, 11]
CC_STEPS = 5
CC_SEEDS = [5, 6, 7]
CC_LABELS = [0, 7, 3]


def ve_loop(unet, sched, seeds, steps):
    """The pipeline's loop, exposing prev_sample_mean before the clamp."""
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    from diffusers.utils.torch_utils import randn_tensor
    shape = (len(seeds), 3, unet.config.sample_size, unet.config.sample_size)
    x = randn_tensor(shape, generator=gens) * sched.init_noise_sigma
    sched.set_timesteps(steps)
    sched.set_sigmas(steps)
    mean = None
    for i, t in enumerate(sched.timesteps):
        sigma_t = sched.sigmas[i] * torch.ones(shape[0])
        for _ in range(sched.config.correct_steps):
            out = unet(x, sigma_t).sample
            x = sched.step_correct(out, x, generator=gens).prev_sample
        out = unet(x, sigma_t).sample
        o = sched.step_pred(out, t, x, generator=gens)
        x, mean = o.prev_sample, o.prev_sample_mean
    return mean


def main():
    torch.set_num_threads(1)
    out = {}
    with torch.no_grad():
        # --- score-SDE VE ---
        unet = UNet2DModel.from_pretrained(os.path.join(VARIANTS, "fourier")).eval()
        sched = ScoreSdeVeScheduler(sigma_max=SIGMA_MAX)
        sched.save_config(os.path.join(HERE, "score_sde_ve"))
        sched.set_timesteps(VE_STEPS)
        sched.set_sigmas(VE_STEPS)
        out["ve_timesteps"] = sched.timesteps.clone().float()
        out["ve_sigmas"] = sched.sigmas.clone().float()
        out["ve_discrete_sigmas"] = sched.discrete_sigmas.clone().float()
        means, images = [], []
        for s in VE_SEEDS:
            m = ve_loop(unet, ScoreSdeVeScheduler(sigma_max=SIGMA_MAX), [s], VE_STEPS)
            pipe = ScoreSdeVePipeline(unet=unet, scheduler=ScoreSdeVeScheduler(sigma_max=SIGMA_MAX))
            pipe.set_progress_bar_config(disable=True)
            img = pipe(batch_size=1, num_inference_steps=VE_STEPS,
                       generator=[torch.Generator().manual_seed(s)], output_type="np").images
            u8 = (img * 255).round().astype("uint8")
            mine = (m.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype("uint8")
            assert np.array_equal(u8, mine), "the loop above is not the pipeline's"
            means.append(m)
            images.append(torch.from_numpy(u8))
        out["ve_seeds"] = torch.tensor(VE_SEEDS, dtype=torch.int64)
        out["ve_mean"] = torch.cat(means).contiguous()
        out["ve_images"] = torch.cat(images).contiguous()
        batch = ve_loop(unet, ScoreSdeVeScheduler(sigma_max=SIGMA_MAX), VE_SEEDS, VE_STEPS)
        out["ve_batch_mean"] = batch.contiguous()
        assert (batch - out["ve_mean"]).abs().max() > 1e-3, "batch averaging made no difference"
        m = out["ve_mean"]
        assert 0.2 < float(((m > 0) & (m < 1)).float().mean()) < 0.8, "images saturated"
        print("ve_mean range", float(m.min()), float(m.max()),
              "fraction inside (0,1):", float(((m > 0) & (m < 1)).float().mean()))

        # --- class-conditional DDPM ---
        unet = UNet2DModel.from_pretrained(os.path.join(VARIANTS, "class_cond")).eval()
        sched = DDPMScheduler.from_pretrained(os.path.join(VARIANTS, "class_cond"))
        sched.set_timesteps(CC_STEPS)
        from diffusers.utils.torch_utils import randn_tensor
        gens = [torch.Generator().manual_seed(s) for s in CC_SEEDS]
        x = randn_tensor((3, 3, 8, 8), generator=gens)
        labels = torch.tensor(CC_LABELS, dtype=torch.int64)
        for t in sched.timesteps:
            eps = unet(x, t, class_labels=labels).sample
            x = sched.step(eps, t, x, generator=gens).prev_sample
        out["cc_seeds"] = torch.tensor(CC_SEEDS, dtype=torch.int64)
        out["cc_labels"] = labels.clone()
        out["cc_x"] = x.contiguous()
        img = (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        out["cc_images"] = torch.from_numpy(np.ascontiguousarray((img * 255).round().astype("uint8")))
        inside = float((x.abs() < 0.999).float().mean())
        print("cc_x range", float(x.min()), float(x.max()), "fraction inside (-1, 1):", inside)
        assert inside > 0.2, "images saturated"
    save_file(out, os.path.join(HERE, "pixel_conditional_reference.safetensors"))


if __name__ == "__main__":
    main()
