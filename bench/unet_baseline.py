#!/usr/bin/env python3
"""PyTorch-eager baseline for bench/unet_bench.cpp: the training step and DDIM sampling a PyTorch
user writes with diffusers' UNet2DModel, on the model folder the bench saved.

Training step (as diffmem's trainer does it): a random batch of images in [-1, 1], random
horizontal flips, t ~ U{0..999}, noise, x_t, MSE between predicted and true noise, backward,
clip_grad_norm_(1.0), Adam (lr 1e-3 with linear warm-up over 200 steps), EMA (decay 0.999). The
clock runs from the end of step --warm to the end of the last step.
Sampling: DDIMScheduler (diffusers' defaults: linear betas 1e-4..0.02, 1000 steps), --ddim-steps
steps, --sample-batch images per forward, under torch.no_grad(), after a one-step warm-up.

--device cuda[:N] runs it on the GPU (the clock waits for the GPU's queue).
Writes {"train_images_per_s", "sample_images_per_s", "torch", "diffusers"} to --json.
"""
import argparse
import copy
import json
import time

import torch
from diffusers import DDIMScheduler, UNet2DModel
import diffusers


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--train-batch", type=int, default=64)
    p.add_argument("--warm", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=20)
    p.add_argument("--sample-n", type=int, default=64)
    p.add_argument("--sample-batch", type=int, default=64)
    p.add_argument("--ddim-steps", type=int, default=10)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    dev = torch.device(a.device)

    def clock():  # GPU work is asynchronous: wait for it before reading the clock
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter()

    unet = UNet2DModel.from_pretrained(a.model).to(dev)
    C, S = unet.config.in_channels, unet.config.sample_size
    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    ab = sched.alphas_cumprod.to(dev)

    # --- training ---
    data = torch.rand(max(2 * a.train_batch, 128), C, S, S, device=dev) * 2 - 1
    unet.train()
    ema = copy.deepcopy(unet).eval()
    for q in ema.parameters():
        q.requires_grad_(False)
    opt = torch.optim.Adam(unet.parameters(), lr=1e-3)
    total = a.warm + a.train_steps
    t_warm = None
    for step in range(total):
        for g in opt.param_groups:
            g["lr"] = 1e-3 * min(1.0, (step + 1) / 200)
        idx = torch.randint(0, data.shape[0], (a.train_batch,), device=dev)
        x0 = data[idx]
        flip = torch.rand(a.train_batch, device=dev) < 0.5
        x0 = torch.where(flip.view(-1, 1, 1, 1), x0.flip(3), x0)
        t = torch.randint(0, 1000, (a.train_batch,), device=dev)
        eps = torch.randn_like(x0)
        s = ab[t].view(-1, 1, 1, 1)
        xt = s.sqrt() * x0 + (1 - s).sqrt() * eps
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(unet(xt, t).sample, eps)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), unet.parameters()):
                pe.mul_(0.999).add_(pm, alpha=0.001)
        if step + 1 == a.warm:
            t_warm = clock()
    train_ips = a.train_steps * a.train_batch / (clock() - t_warm)
    print(f"  train  pytorch eager  {train_ips:8.2f} images/s", flush=True)

    # --- DDIM sampling ---
    unet.eval()

    def sample(n, steps):
        sched.set_timesteps(steps)
        out = []
        with torch.no_grad():
            for b in range(0, n, a.sample_batch):
                x = torch.randn(min(a.sample_batch, n - b), C, S, S, device=dev)
                for t in sched.timesteps:
                    x = sched.step(unet(x, t).sample, t, x).prev_sample
                out.append(x)
        return torch.cat(out)

    sample(min(4, a.sample_n), 1)
    t0 = clock()
    sample(a.sample_n, a.ddim_steps)
    sample_ips = a.sample_n / (clock() - t0)

    with open(a.json, "w") as f:
        json.dump({"train_images_per_s": train_ips, "sample_images_per_s": sample_ips,
                   "torch": torch.__version__, "diffusers": diffusers.__version__}, f)


if __name__ == "__main__":
    main()
