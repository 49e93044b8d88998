#!/usr/bin/env python3
"""Parameter names and shapes of the full-size Stable Diffusion 1.5 and 2.1 (768-v) components, as
diffusers 0.42 / transformers 5 build them from the Hub configurations (written out below from
runwayml/stable-diffusion-v1-5 and stabilityai/stable-diffusion-2-1, unet/vae/text_encoder
config.json). Built on the meta device: no weights, nothing downloaded, a few seconds of CPU.

Run from the repository root with a Python that has torch, diffusers and transformers:
    python3 tests/reference/model/make_sd_params.py
Writes, next to this script:
  sd15_params.txt   components unet (UNet2DConditionModel), vae (AutoencoderKL), text_encoder
                    (CLIPTextModel, CLIP ViT-L/14 text tower) of SD 1.5
  sd21_params.txt   the same for SD 2.1 768-v (text_encoder: OpenCLIP ViT-H/14 text tower as SD 2
                    ships it, 23 layers, gelu)
Format of each file, one section per component in the order unet, vae, text_encoder:
  "# <component> <ClassName>"            section header
  "<name> [d0, d1, ...]"                 one line per parameter, in named_parameters() order
                                         (model order, as /work/shared/reference/
                                         ddpm-cifar10-32.params.txt), names as state_dict keys
  "tensors: <n> params: <total>"         closes the section
Buffers are not listed (CLIPTextModel's embeddings.position_ids is a non-persistent buffer).
Note: transformers 5's CLIPTextModel has no `text_model` submodule, so its names start at
"embeddings." / "encoder." / "final_layer_norm."; the Hub's text_encoder/model.safetensors (written
by transformers 4) prefix every name with "text_model.". transformers 5 strips that prefix on load.
"""
import os

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

HERE = os.path.dirname(os.path.abspath(__file__))

UNET_COMMON = dict(
    act_fn="silu", block_out_channels=[320, 640, 1280, 1280], center_input_sample=False,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                      "DownBlock2D"],
    downsample_padding=1, flip_sin_to_cos=True, freq_shift=0, in_channels=4, layers_per_block=2,
    mid_block_scale_factor=1, norm_eps=1e-5, norm_num_groups=32, out_channels=4,
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"])

SD15_UNET = dict(UNET_COMMON, attention_head_dim=8, cross_attention_dim=768, sample_size=64)
SD21_UNET = dict(UNET_COMMON, attention_head_dim=[5, 10, 20, 20], cross_attention_dim=1024,
                 sample_size=96, use_linear_projection=True, upcast_attention=True,
                 dual_cross_attention=False, num_class_embeds=None, only_cross_attention=False)

VAE = dict(act_fn="silu", block_out_channels=[128, 256, 512, 512],
           down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
           in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32)
SD15_VAE = dict(VAE, sample_size=512)
SD21_VAE = dict(VAE, sample_size=768)

SD15_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                 num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                 layer_norm_eps=1e-5, projection_dim=768, bos_token_id=0, eos_token_id=2,
                 pad_token_id=1, attention_dropout=0.0, dropout=0.0, initializer_factor=1.0,
                 initializer_range=0.02)
SD21_TEXT = dict(SD15_TEXT, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
                 num_attention_heads=16, hidden_act="gelu", projection_dim=512)

# Commonly quoted exact totals (recalled, not read from the Hub): a sanity check only.
KNOWN = {("sd15", "unet"): 859_520_964, ("sd15", "vae"): 83_653_863,
         ("sd15", "text_encoder"): 123_060_480, ("sd21", "unet"): 865_910_724,
         ("sd21", "vae"): 83_653_863, ("sd21", "text_encoder"): 340_387_840}


def build(kind, cfg):
    with torch.device("meta"):
        if kind == "unet":
            return UNet2DConditionModel(**cfg)
        if kind == "vae":
            return AutoencoderKL(**cfg)
        return CLIPTextModel(CLIPTextConfig(**cfg))


def write(tag, comps):
    path = os.path.join(HERE, tag + "_params.txt")
    with open(path, "w") as f:
        for comp, cfg in comps:
            model = build(comp, cfg)
            params = list(model.named_parameters())
            keys = set(model.state_dict().keys())
            assert all(n in keys for n, _ in params), "a parameter missing from state_dict"
            total = sum(p.numel() for _, p in params)
            f.write("# %s %s\n" % (comp, type(model).__name__))
            for name, p in params:
                f.write("%s [%s]\n" % (name, ", ".join(str(d) for d in p.shape)))
            f.write("tensors: %d params: %d\n" % (len(params), total))
            known = KNOWN[(tag, comp)]
            print("%s %-12s tensors %4d params %11d (%.2fM)  known %11d (%.2fM)  %s" % (
                tag, comp, len(params), total, total / 1e6, known, known / 1e6,
                "OK" if total == known else "DIFF %+d" % (total - known)))
    print("wrote", path)


if __name__ == "__main__":
    write("sd15", [("unet", SD15_UNET), ("vae", SD15_VAE), ("text_encoder", SD15_TEXT)])
    write("sd21", [("unet", SD21_UNET), ("vae", SD21_VAE), ("text_encoder", SD21_TEXT)])
