"""Checks that diffusers opens a pipeline folder diffmem's text-to-image training wrote and samples
the images diffmem samples from it (a development aid, run by hand; needs torch + diffusers):

    python tests/reference/train/check_text_to_image_folder.py MODEL_FOLDER build/diffmem

It loads the folder with StableDiffusionPipeline (vae=None for a pixel-space folder), samples two
prompts with per-image generators, 10 steps, guidance 3, and compares the uint8 images with
`diffmem sample` on the same prompts and seeds. Exit 1 when any pixel differs by more than 1.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from diffusers import StableDiffusionPipeline

folder, diffmem = sys.argv[1], sys.argv[2]
prompts = ["a new checked pullover folded on a table", "a worn dotted bag on a hanger"]
seeds = [5, 6]
index = json.load(open(os.path.join(folder, "model_index.json")))
pixel = index["vae"][0] is None
extra = {"vae": None} if pixel else {}
pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False, **extra)
gens = [torch.Generator().manual_seed(s) for s in seeds]
out = pipe(prompts, num_inference_steps=10, guidance_scale=3.0, generator=gens,
           output_type="latent" if pixel else "np").images
if pixel:
    ref = ((out / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
else:
    ref = (out * 255).round().astype(np.uint8)

with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(tmp, "p.jsonl"), "w") as f:
        for p in prompts:
            f.write(json.dumps({"prompt": p}) + "\n")
    subprocess.run([diffmem, "--quiet", "sample", "--model", folder, "--prompts", os.path.join(tmp, "p.jsonl"),
                    "--per-prompt", "1", "--seed", str(seeds[0]), "--steps", "10", "--guidance", "3",
                    "--out", os.path.join(tmp, "s")], check=True)
    ours = np.load(os.path.join(tmp, "s", "images-00000.npy"))
diff = np.abs(ours.astype(int) - ref.astype(int))
print(f"{folder}: {'pixel' if pixel else 'latent'} space, images {ours.shape}, max |diff| {diff.max()}, "
      f"mean {diff.mean():.4f}")
sys.exit(0 if diff.max() <= 1 else 1)
