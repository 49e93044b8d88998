#!/usr/bin/env python3
"""Reference data for tests/model/inception_test.cpp: pytorch-fid's pool3 features that diffmem's
InceptionFeatures must match, and a TorchScript stand-in for NVIDIA's inception-2015-12-05.pt.

Run from the repository root with a Python that has torch, torchvision, pytorch-fid, scipy,
numpy and safetensors:
    python3 tests/reference/model/make_inception_reference.py
The real weights are never downloaded: pytorch_fid.inception.load_state_dict_from_url is replaced
by a function that returns formula weights, which the C++ test rebuilds from the same formula:
  every tensor of the pool3 net (parameters and BatchNorm running stats; not fc.*, not
  num_batches_tracked) sorted by name, k its index, i = 0..numel-1 in f64,
      s = sin(0.37 i + 0.001 i^2 + k)       (a chirp: the rows of a conv are not all one sinusoid)
  conv weights s * 2.5 / sqrt(fan_in); bn.weight 1 + 0.2 s; bn.bias 0.1 s;
  bn.running_mean 0.1 s; bn.running_var 1 + 0.5 |s|; all cast to f32.
  fc.weight/fc.bias (1008 classes) are 0.01 s and 0; num_batches_tracked 0.
c = 2.5 keeps activations O(0.1..1) through the 17 blocks and the pool3 features different from
image to image (checked below).
Writes, next to this script:
  inception_io.safetensors
      images_rgb [6,32,32,3] u8, images_gray [4,28,28,1] u8 (numpy default_rng(2015));
      features_rgb [6,2048] f32, features_gray [4,2048] f32: InceptionV3([3]) (resize_input,
        normalize_input, use_fid_inception) on x = images / 255 in NCHW, gray repeated to 3
        channels (what PIL's convert('RGB') gives pytorch-fid for a grayscale file);
      fid_rgb_gray [1] f64: pytorch_fid.fid_score.calculate_frechet_distance of the two sets'
        mu and sigma (np.mean / np.cov(rowvar=False) of the features in f64);
      standin_features_rgb [6,16] f32, standin_features_gray [4,16] f32: inception_standin.pt
        called as forward(x, return_features=True), x = images as f32 in 0..255, NCHW, 3 channels.
  inception_standin.pt   a TorchScript stand-in for inception-2015-12-05.pt (see StandIn).
"""
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

import pytorch_fid.inception as pfi
from pytorch_fid.fid_score import calculate_frechet_distance

HERE = os.path.dirname(os.path.abspath(__file__))
GAIN = 2.5


def formula_state_dict():
    """The formula weights in the layout of pytorch-fid's pt_inception-2015-12-05-6726825d.pth."""
    skeleton = torchvision.models.inception_v3(num_classes=1008, aux_logits=False,
                                               init_weights=False, weights=None)
    sd = skeleton.state_dict()
    names = sorted(n for n in sd if not n.startswith("fc.") and not n.endswith("num_batches_tracked"))
    out = {}
    for k, name in enumerate(names):
        t = sd[name]
        i = torch.arange(t.numel(), dtype=torch.float64)
        s = torch.sin(i * 0.37 + i * i * 1e-3 + k)
        leaf = name.rsplit(".", 1)[1]
        if t.dim() == 4:
            v = s * (GAIN / math.sqrt(t.numel() / t.shape[0]))
        elif leaf == "weight":
            v = 1 + 0.2 * s
        elif leaf == "bias":
            v = 0.1 * s
        elif leaf == "running_mean":
            v = 0.1 * s
        elif leaf == "running_var":
            v = 1 + 0.5 * s.abs()
        else:
            raise RuntimeError(name)
        out[name] = v.to(torch.float32).reshape(t.shape)
    for name, t in sd.items():
        if name.endswith("num_batches_tracked"):
            out[name] = torch.zeros_like(t)
    i = torch.arange(sd["fc.weight"].numel(), dtype=torch.float64)
    out["fc.weight"] = (0.01 * torch.sin(i * 0.37)).to(torch.float32).reshape(sd["fc.weight"].shape)
    out["fc.bias"] = torch.zeros_like(sd["fc.bias"])
    return out, len(names)


class StandIn(nn.Module):
    """NVIDIA's protocol in miniature: x [N,3,H,W] f32 in 0..255, resized inside the module;
    forward(x, return_features=True) -> [N,16] features, else [N,10] logits. Only aten operators
    (no torch.nn.functional helpers, whose scripted bodies call operators newer than LibTorch
    1.13 has), so that diffmem's LibTorch loads what this torch saves."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.w1 = nn.Parameter(torch.randn(48, 16, generator=g) * 0.5)
        self.b1 = nn.Parameter(torch.randn(16, generator=g) * 0.5)
        self.w2 = nn.Parameter(torch.randn(16, 10, generator=g) * 0.5)
        self.b2 = nn.Parameter(torch.randn(10, generator=g) * 0.5)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        if x.dim() != 4 or x.size(1) != 3 or x.dtype != torch.float32:
            raise RuntimeError("stand-in: expected x [N,3,H,W] float32")
        if bool(x.min() < 0.0) or bool(x.max() > 255.0):
            raise RuntimeError("stand-in: expected pixel values in 0..255")
        x = torch._C._nn.upsample_bilinear2d(x, [16, 16], False)
        f = torch.flatten(torch._C._nn.adaptive_avg_pool2d(x / 255.0, [4, 4]), 1)
        f = torch.matmul(f, self.w1) + self.b1
        if return_features:
            return f
        return torch.matmul(f, self.w2) + self.b2


def images(rng, n, size, channels):
    # Blocky low-frequency structure plus noise, so that images differ in more than noise.
    block = size // 4
    base = rng.integers(0, 200, (n, 4, 4, channels))
    base = np.repeat(np.repeat(base, block, axis=1), block, axis=2)
    return (base + rng.integers(0, 56, (n, size, size, channels))).astype(np.uint8)


def nchw(u8):
    x = torch.from_numpy(u8).permute(0, 3, 1, 2).to(torch.float32)
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


if __name__ == "__main__":
    torch.set_num_threads(2)
    sd, count = formula_state_dict()
    pfi.load_state_dict_from_url = lambda *args, **kwargs: sd
    model = pfi.InceptionV3([3], resize_input=True, normalize_input=True,
                            use_fid_inception=True).eval()
    rng = np.random.default_rng(2015)
    rgb, gray = images(rng, 6, 32, 3), images(rng, 4, 28, 1)
    with torch.no_grad():
        feats = {n: model(nchw(u8) / 255)[0].squeeze(3).squeeze(2) for n, u8 in
                 (("rgb", rgb), ("gray", gray))}
    for n, f in feats.items():
        print(f"pool3 {n}: {tuple(f.shape)} mean {f.mean():.4f} std {f.std():.4f}"
              f" image-to-image std {f.std(0).mean():.4f}")
    stats = {n: (f.double().numpy().mean(0), np.cov(f.double().numpy(), rowvar=False))
             for n, f in feats.items()}
    fid = calculate_frechet_distance(*stats["rgb"], *stats["gray"])
    # The covariances have rank 5 and 3, so check scipy's sqrtm with eigenvalues of
    # sqrt(s1) s2 sqrt(s1) (PSD): tr sqrt(s1 s2) is the sum of their square roots.
    (m1, s1), (m2, s2) = stats["rgb"], stats["gray"]
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)
    fid_eig = (m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(ev).sum()
    print(f"fid_rgb_gray {fid!r} (eigenvalue check {fid_eig!r})")

    standin = torch.jit.script(StandIn().eval())
    standin_path = os.path.join(HERE, "inception_standin.pt")
    print(standin.code)
    standin.save(standin_path)
    with torch.no_grad():
        sf = {n: standin(nchw(u8), return_features=True) for n, u8 in (("rgb", rgb), ("gray", gray))}
    save_file({"images_rgb": torch.from_numpy(rgb), "images_gray": torch.from_numpy(gray),
               "features_rgb": feats["rgb"].contiguous(), "features_gray": feats["gray"].contiguous(),
               "fid_rgb_gray": torch.tensor([fid], dtype=torch.float64),
               "standin_features_rgb": sf["rgb"].contiguous(),
               "standin_features_gray": sf["gray"].contiguous()},
              os.path.join(HERE, "inception_io.safetensors"))
    params = sum(p.numel() for p in model.parameters())
    print(f"inception_io.safetensors written: {count} formula tensors, {params} parameters;"
          f" {os.path.getsize(standin_path)} bytes of stand-in")
