#!/usr/bin/env python3
"""diffusers' images from the fp16 variant of sd_tiny_v1 (the *.fp16.safetensors files that
make_sd_pipeline_reference.py saved), for the test that diffmem opens such a folder as diffusers
does. Run from the repository root with torch, diffusers and safetensors:
    python3 tests/reference/model/make_sd_fp16_reference.py
Writes sd_tiny_v1_fp16_images.safetensors beside this script:
  cfg_images [2,32,32,3] u8   StableDiffusionPipeline.from_pretrained(folder, variant="fp16",
                              torch_dtype=torch.float32): the F16 weights widened to F32, as
                              diffmem loads them; PROMPTS, guidance 7.5, 10 steps, 32x32,
                              generator [seed 0, seed 1], (output_type="np" * 255).round()
The prompts, seeds and sizes are make_sd_pipeline_reference.py's.
"""
import os

import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPTS = ["a photo of an astronaut riding a horse", "an oil painting of a cat, highly detailed"]
SEEDS = (0, 1)

if __name__ == "__main__":
    torch.set_num_threads(2)
    pipe = StableDiffusionPipeline.from_pretrained(os.path.join(HERE, "sd_tiny_v1"), variant="fp16",
                                                   torch_dtype=torch.float32)
    assert pipe.unet.dtype == torch.float32
    pipe.set_progress_bar_config(disable=True)
    img = pipe(PROMPTS, height=32, width=32, num_inference_steps=10, guidance_scale=7.5,
               generator=[torch.Generator().manual_seed(s) for s in SEEDS], output_type="np").images
    u8 = torch.from_numpy((img * 255).round().astype("uint8")).contiguous()
    save_file({"cfg_images": u8}, os.path.join(HERE, "sd_tiny_v1_fp16_images.safetensors"),
              metadata={"format": "pt"})
    print("cfg_images", tuple(u8.shape), "mean %.2f" % u8.float().mean().item())
