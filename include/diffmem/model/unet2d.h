#pragma once
// UNet2D: diffusers' UNet2DModel in LibTorch — the same modules under the same parameter names
// (conv_in, time_embedding.linear_1, down_blocks.0.resnets.0.norm1, ..., conv_out), the same
// arithmetic, the same outputs. Checkpoints move between the two through model/checkpoint.h.
//
// Training: model->train(); eps = model->forward(x_t, t); the ResnetBlock2D dropout is active.
// Inference: model->eval() and a torch::NoGradGuard. EMA copies: std::dynamic_pointer_cast<
// UNet2DImpl>(model->clone()) (every submodule is Cloneable).
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>
#include <string>

#include "diffmem/model/denoiser.h"
#include "diffmem/model/unet2d_config.h"

namespace diffmem::model {

/// diffusers' get_timestep_embedding (scale 1, the float32 arithmetic of diffusers):
/// t: [N] any numeric dtype → [N, dim] f32, [sin | cos] halves ([cos | sin] with flip_sin_to_cos),
/// frequencies exp(−ln(max_period) · i / (dim/2 − downscale_freq_shift)), zero-padded when dim is
/// odd.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos,
                                 double downscale_freq_shift, double max_period = 10000);

class UNet2DImpl : public torch::nn::Cloneable<UNet2DImpl> {
 public:
  /// Builds the network with PyTorch's default initialization; throws diffmem::Error on a config
  /// that validate() rejects.
  explicit UNet2DImpl(UNet2DConfig config);
  void reset() override;

  /// x: [N, in_channels, H, W] f32 (H, W multiples of 2^(levels−1)); t: [N], [1] or scalar
  /// timesteps, any numeric dtype (usually i64; fractional values allowed; noise levels sigma > 0
  /// for time_embedding_type "fourier") → [N, out_channels, H, W] f32. class_labels: [N] integer
  /// classes, required exactly when the config has num_class_embeds.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t,
                        const torch::Tensor& class_labels = {});

  const UNet2DConfig& config() const { return config_; }
  int64_t parameter_count() const;
  /// Device of the parameters.
  torch::Device device() const;

 private:
  struct Parts;  // typed handles to the registered submodules (src/model/unet2d.cpp)
  UNet2DConfig config_;
  std::shared_ptr<Parts> parts_;
};
TORCH_MODULE(UNet2D);

/// The Denoiser view of a UNet2D: predict_noise = forward. It neither switches modes nor disables
/// gradients (the training loss goes through it too); samplers call eval() and hold a NoGradGuard.
class UNet2DDenoiser : public Denoiser {
 public:
  explicit UNet2DDenoiser(UNet2D unet) : unet_(std::move(unet)) {}
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override;
  torch::Tensor predict_noise_for(const torch::Tensor& x, const torch::Tensor& t,
                                  const torch::Tensor& class_labels) override;
  int64_t num_classes() const override;
  bool takes_sigma() const override;
  int64_t in_channels() const override { return unet_->config().in_channels; }
  int64_t sample_size() const override { return unet_->config().sample_size; }
  int64_t sample_width() const override { return unet_->config().width(); }
  torch::Device device() const override { return unet_->device(); }
  /// "UNet2D 35.75M params, 32×32×3".
  std::string describe() const override;
  UNet2D& unet() { return unet_; }
  const UNet2D& unet() const { return unet_; }

 private:
  UNet2D unet_;
};

}  // namespace diffmem::model
