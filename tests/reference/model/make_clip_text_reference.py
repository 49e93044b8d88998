#!/usr/bin/env python3
"""Reference data for tests/model: transformers' CLIPTextModel outputs that diffmem's ClipTextModel
must match.

Run from the repository root with a Python that has torch, transformers and safetensors:
    python3 tests/reference/model/make_clip_text_reference.py
Writes, next to this script, for two random-weight configurations:
  clip_text_sd1/     SD-1.x-shaped (quick_gelu, eos_token_id 2 as in openai/clip-vit-large-patch14's
                     config: the pooled row is the argmax token), from save_pretrained
  clip_text_sd2/     SD-2.x-shaped (gelu, eos_token_id 49407: the pooled row is the first eos)
  clip_text_*_io.safetensors
      input_ids [2,77] i64 (an SD-style padded prompt and a truncated one),
      last_hidden_state [2,77,H] f32, pooled [2,H] f32,
      skip1 [2,77,H] f32: diffusers' clip_skip=1, final_layer_norm(hidden_states[-2])
The vocabulary is cut to 1,000 rows (no 49,408-row embedding in the repository): bos is 998, and
sd2's eos 999 (with pad 0) exercises the first-eos rule of the pooled output.
"""
import os

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel

HERE = os.path.dirname(os.path.abspath(__file__))


def ids_for(eos, pad):
    a = [998] + [5, 17, 250, 3, 999 - 2, 40] + [eos]
    a = a + [pad] * (77 - len(a))
    b = [998] + [(i * 37) % 900 + 1 for i in range(75)] + [eos]
    return torch.tensor([a, b], dtype=torch.long)


def make(name, hidden_act, eos, pad, seed):
    torch.manual_seed(seed)
    cfg = CLIPTextConfig(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                         num_attention_heads=4, max_position_embeddings=77, hidden_act=hidden_act,
                         layer_norm_eps=1e-5, bos_token_id=998, eos_token_id=eos, pad_token_id=pad,
                         projection_dim=32)
    model = CLIPTextModel(cfg).eval()
    with torch.no_grad():  # non-trivial layer norms and biases (init leaves them at 1 and 0)
        for n, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    out_dir = os.path.join(HERE, name)
    model.save_pretrained(out_dir, safe_serialization=True)
    ids = ids_for(eos, pad)
    with torch.no_grad():
        o = model(input_ids=ids, output_hidden_states=True)
        skip1 = model.final_layer_norm(o.hidden_states[-2])
    save_file({"input_ids": ids.contiguous(), "last_hidden_state": o.last_hidden_state.contiguous(),
               "pooled": o.pooler_output.contiguous(), "skip1": skip1.contiguous()},
              os.path.join(HERE, name + "_io.safetensors"))
    print(name, "written; keys:", sorted(model.state_dict().keys())[:3], "...")


if __name__ == "__main__":
    make("clip_text_sd1", "quick_gelu", eos=2, pad=2, seed=1)
    make("clip_text_sd2", "gelu", eos=999, pad=0, seed=2)
