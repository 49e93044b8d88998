#pragma once
// Writing a diffusers StableDiffusionPipeline folder (what text-to-image training leaves):
// model_index.json, unet/, text_encoder/, tokenizer/ (ClipTokenizer::write_folder), scheduler/,
// and vae/ for a latent model — or "vae": [null, null] for a pixel-space one, which diffusers loads
// with vae=None and samples with output_type="latent". Each component's config.json lands after its
// weights, and model_index.json last, so a folder with a model_index.json is complete.
#include <torch/types.h>

#include <filesystem>
#include <map>
#include <string>

#include "diffmem/model/clip_text_config.h"
#include "diffmem/model/unet2d_condition_config.h"

namespace diffmem::model {

/// dir/config.json (_class_name UNet2DConditionModel) + dir/diffusion_pytorch_model.safetensors (f32).
void save_unet2d_condition(const UNet2DConditionConfig& config, const std::map<std::string, torch::Tensor>& weights,
                           const std::filesystem::path& dir);

/// dir/config.json (transformers' CLIPTextModel) + dir/model.safetensors (f32).
void save_clip_text_model(const ClipTextConfig& config, const std::map<std::string, torch::Tensor>& weights,
                          const std::filesystem::path& dir);

/// dir/model_index.json of a StableDiffusionPipeline whose scheduler/ holds `scheduler_class`.
void write_sd_model_index(const std::filesystem::path& dir, const std::string& scheduler_class, bool has_vae);

}  // namespace diffmem::model
