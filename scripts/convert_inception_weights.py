#!/usr/bin/env python3
"""Convert pytorch-fid's Inception weights to the safetensors file diffmem loads.

    python3 scripts/convert_inception_weights.py pt_inception-2015-12-05-6726825d.pth \
        [-o inception-v3-fid.safetensors]

The input is the file pytorch-fid downloads on first use (to ~/.cache/torch/hub/checkpoints/):
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
It is read with torch.load(..., weights_only=True), which restores tensors and plain containers
only and never runs pickled code (torch >= 1.13). Every tensor is written as float32 under its
own name (torchvision's: Conv2d_1a_3x3.conv.weight, Mixed_5b.branch1x1.bn.running_mean, ...);
fc.weight/fc.bias (the 1008-class logits) are kept, the integer num_batches_tracked counters
dropped. diffmem's InceptionFeatures (include/diffmem/model/inception_features.h) then gives
pytorch-fid's pool3 features. The output is written through a temporary file and a rename.
"""
import argparse
import hashlib
import os
import sys

import torch
from safetensors.torch import save_file

EXPECTED_SHA256_PREFIX = "6726825d"  # the hash in pytorch-fid's file name (torch.hub's check)
REQUIRED = ("Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch_pool.bn.running_var",
            "Mixed_7c.branch3x3dbl_3b.conv.weight", "Mixed_7c.branch_pool.bn.running_mean")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pth", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("-o", "--output", default="inception-v3-fid.safetensors",
                        help="where to write (default: %(default)s)")
    args = parser.parse_args()

    try:
        state = torch.load(args.pth, map_location="cpu", weights_only=True)
    except TypeError:
        sys.exit("error: this torch has no torch.load(weights_only=True); use torch >= 1.13")
    except Exception as e:  # a full unpickle is never tried
        sys.exit(f"error: {args.pth}: expected a state dict that torch.load(weights_only=True) "
                 f"reads, found: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        sys.exit(f"error: {args.pth}: expected a dict of tensors (a state dict), "
                 f"found {type(state).__name__}")
    missing = [n for n in REQUIRED if n not in state]
    if missing:
        sys.exit(f"error: {args.pth}: expected Inception-v3 tensors named as torchvision's, "
                 f"found no {missing[0]!r}")
    if any(n.startswith("AuxLogits.") for n in state) or \
            ("fc.weight" in state and tuple(state["fc.weight"].shape) != (1008, 2048)):
        sys.exit(f"error: {args.pth}: expected pytorch-fid's FID Inception (1008 classes, no "
                 f"AuxLogits), found torchvision's ImageNet Inception, whose features are not FID's")

    digest = sha256(args.pth)
    if not digest.startswith(EXPECTED_SHA256_PREFIX):
        print(f"note: sha256 {digest[:16]}... is not pytorch-fid's {EXPECTED_SHA256_PREFIX}...; "
              f"converting anyway", file=sys.stderr)

    tensors = {name: t.detach().to(torch.float32).contiguous()
               for name, t in sorted(state.items()) if not name.endswith("num_batches_tracked")}
    bad = [n for n, t in tensors.items() if not torch.isfinite(t).all()]
    if bad:
        sys.exit(f"error: {args.pth}: tensor {bad[0]!r}: expected finite values, found NaN or inf")

    tmp = args.output + ".tmp"
    save_file(tensors, tmp, metadata={"format": "pt", "source": os.path.basename(args.pth),
                                      "source_sha256": digest})
    os.replace(tmp, args.output)
    count = sum(t.numel() for t in tensors.values())
    print(f"wrote {args.output}: {len(tensors)} float32 tensors, {count} values "
          f"(from {os.path.basename(args.pth)}, sha256 {digest[:8]}...; "
          f"{len(state) - len(tensors)} num_batches_tracked dropped)")


if __name__ == "__main__":
    main()
