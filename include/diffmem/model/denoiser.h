#pragma once
// What samplers, training and attacks see of a model: eps = f(x_t, t).
// Implementations: the native UNet2D (model/unet2d.h) and a TorchScript module (model/torchscript.h).
#include <torch/types.h>

#include <string>

namespace diffmem::model {

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  /// x: [N,C,H,W] f32 in the model's scale ([-1,1] data), t: [N] i64 timesteps → the model's
  /// output, [N,C,H,W] f32: eps for most models; v or x0 when the scheduler config's
  /// prediction_type says so, and [N,2C,H,W] with a learned variance. The samplers read it as
  /// diffusers' steps do; the attacks through diffusion::predicted_noise.
  virtual torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) = 0;
  virtual int64_t in_channels() const = 0;
  virtual int64_t sample_size() const = 0;  // H
  virtual int64_t sample_width() const { return sample_size(); }  // W (square unless overridden)
  virtual torch::Device device() const = 0;
  /// Human-readable description for reports ("UNet2D 0.58M params", "TorchScript model.pt").
  virtual std::string describe() const = 0;
};

}  // namespace diffmem::model
