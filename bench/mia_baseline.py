#!/usr/bin/env python3
"""PyTorch-eager baseline for bench/mia_bench.cpp: the membership-inference loss statistic of
`diffmem mia loss`, computed the way a PyTorch user would write it with diffusers' UNet2DModel.

Per example e: a CPU generator seeded with derive_seed(seed, ids[e]) (diffmem's splitmix64 mix)
draws `draws` noise tensors one at a time (and `draws` more for the mirrored image with --flip);
x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps; loss = mean((unet(x_t, t) - eps)^2); the score is the
mean over the draws. Items are batched `batch` at a time, example-major, like diffmem.

Writes the scores (.npy, float64) and {"seconds", "forwards", "forwards_per_s", "torch"} (.json).
Only the scoring loop is timed (after a short warm-up), not the Python start or the model load.
"""
import argparse
import json
import time

import numpy as np
import torch
from diffusers import UNet2DModel

M64 = (1 << 64) - 1


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def derive_seed(base, stream):
    return mix(mix((base + 0x9E3779B97F4A7C15) & M64) ^ ((stream * 0xD1B54A32D192ED03 + 1) & M64))


def alphas_cumprod(T=1000, beta_start=1e-4, beta_end=0.02):
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0)


def score(model, x, ids, t, draws, flip, seed, batch, ab):
    n, C, H, W = x.shape
    per = draws * (2 if flip else 1)
    sums = np.zeros(n, dtype=np.float64)
    sqrt_ab, sqrt_1m = ab[t] ** 0.5, (1 - ab[t]) ** 0.5
    x0s, epss, owners = [], [], []

    def run():
        x0 = torch.stack(x0s)
        eps = torch.stack(epss)
        xt = sqrt_ab * x0 + sqrt_1m * eps
        tt = torch.full((len(x0s),), t, dtype=torch.long)
        pred = model(xt, tt).sample
        loss = ((pred - eps) ** 2).mean(dim=(1, 2, 3)).double().numpy()
        for k, e in enumerate(owners):
            sums[e] += loss[k]
        x0s.clear(), epss.clear(), owners.clear()

    for e in range(n):
        g = torch.Generator().manual_seed(derive_seed(seed, int(ids[e])))
        mirrored = x[e].flip(-1)
        for j in range(per):
            x0s.append(mirrored if j >= draws else x[e])
            epss.append(torch.randn((C, H, W), generator=g))
            owners.append(e)
            if len(x0s) == batch:
                run()
    if x0s:
        run()
    return sums / per


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, help="diffusers model folder")
    p.add_argument("--images", required=True, help="uint8 [N,H,W,C] .npy")
    p.add_argument("--ids", required=True, help="int64 [N] .npy")
    p.add_argument("--t", type=int, default=100)
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--flip", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--warmup", type=int, default=4, help="examples scored once before timing")
    p.add_argument("--out", required=True, help="scores .npy")
    p.add_argument("--json", required=True, help="timing .json")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    model = UNet2DModel.from_pretrained(a.model).eval()
    images = np.load(a.images)
    ids = np.load(a.ids)
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    ab = alphas_cumprod()
    with torch.no_grad():
        score(model, x[: a.warmup], ids[: a.warmup], a.t, a.draws, a.flip, a.seed, a.batch, ab)
        t0 = time.perf_counter()
        s = score(model, x, ids, a.t, a.draws, a.flip, a.seed, a.batch, ab)
        seconds = time.perf_counter() - t0
    forwards = len(ids) * a.draws * (2 if a.flip else 1)
    np.save(a.out, s)
    with open(a.json, "w") as f:
        json.dump({"seconds": seconds, "forwards": forwards, "forwards_per_s": forwards / seconds,
                   "torch": torch.__version__, "threads": torch.get_num_threads()}, f)


if __name__ == "__main__":
    main()
