"""Writes small.safetensors with Python's `safetensors` package (the reference writer), for
tests/io/safetensors_test.cpp. Values are simple formulas the test recomputes.

Run from the repository root with the pyenv python3 (safetensors, torch, numpy):
    python3 tests/reference/io/make_safetensors.py
"""
import os

import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
tensors = {
    # float32 [2,3]: v[i,j] = i*3 + j + 0.5
    "conv.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) + 0.5,
    # int64 [4]: -2, 0, 2, 4
    "steps": torch.arange(4, dtype=torch.int64) * 2 - 2,
    # float16 [3]: 1, -2, 0.25 (exact in half)
    "half": torch.tensor([1.0, -2.0, 0.25], dtype=torch.float16),
    # bfloat16 [2]: 1.5, -3 (exact in bf16)
    "bf": torch.tensor([1.5, -3.0], dtype=torch.bfloat16),
    # uint8 [2,2]: 0, 1, 254, 255
    "pix": torch.tensor([[0, 1], [254, 255]], dtype=torch.uint8),
    # bool [3]
    "mask": torch.tensor([True, False, True]),
    # float64 scalar (shape [])
    "scale": torch.tensor(0.125, dtype=torch.float64),
}
save_file(tensors, os.path.join(here, "small.safetensors"), metadata={"format": "pt", "note": "diffmem test"})
