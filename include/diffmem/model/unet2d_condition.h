#pragma once
// diffusers' UNet2DConditionModel (Stable Diffusion's denoiser): the UNet2D's time embedding,
// resnets and resamplers, with Transformer2DModels (self-attention, cross-attention to the text
// embeddings, GEGLU) in CrossAttnDownBlock2D / UNetMidBlock2DCrossAttn / CrossAttnUpBlock2D;
// conv or linear projections; heads per block. Parameter names as diffusers'.
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <memory>

#include "diffmem/io/safetensors.h"
#include "diffmem/model/unet2d_condition_config.h"

namespace diffmem::model {

class UNet2DConditionModelImpl : public torch::nn::Module {
 public:
  explicit UNet2DConditionModelImpl(const UNet2DConditionConfig& config);
  /// x [B,in,H,W] (H, W multiples of 2^(levels-1)), t: one timestep or B (any numeric dtype),
  /// context [B,L,cross_attention_dim] -> the model's prediction [B,out,H,W].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context);
  const UNet2DConditionConfig& config() const { return config_; }

  struct Parts;

 private:
  UNet2DConditionConfig config_;
  std::shared_ptr<Parts> parts_;
};
TORCH_MODULE(UNet2DConditionModel);

/// Copies weights by diffusers name (legacy attention names renamed); strict as load_weights.
void load_unet2d_condition_weights(UNet2DConditionModelImpl& model, const io::Safetensors& file,
                                   const std::string& where);

/// A unet/ folder: config.json + diffusion_pytorch_model.safetensors (or its .fp16 variant).
UNet2DConditionModel load_unet2d_condition(const std::filesystem::path& dir,
                                           const torch::Device& device = torch::kCPU);

}  // namespace diffmem::model
