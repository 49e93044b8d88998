#pragma once
// What samplers, training and attacks see of a model: eps = f(x_t, t).
// Implementations: the native UNet2D (model/unet2d.h) and a TorchScript module (model/torchscript.h).
#include <torch/types.h>

#include <string>

#include "diffmem/core/error.h"

namespace diffmem::model {

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  /// x: [N,C,H,W] f32 in the model's scale ([-1,1] data), t: [N] i64 timesteps → the model's
  /// output, [N,C,H,W] f32: eps for most models; v or x0 when the scheduler config's
  /// prediction_type says so, and [N,2C,H,W] with a learned variance. The samplers read it as
  /// diffusers' steps do; the attacks through diffusion::predicted_noise.
  virtual torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) = 0;
  /// Class-conditional models (diffusers' num_class_embeds): the number of classes, 0 for the
  /// rest. Their predict_noise(x, t) refuses; predict_noise_for gives each image its class.
  virtual int64_t num_classes() const { return 0; }
  /// The output for class_labels [N] i64 in [0, num_classes()); for an unconditional model only
  /// an undefined tensor is accepted.
  virtual torch::Tensor predict_noise_for(const torch::Tensor& x, const torch::Tensor& t,
                                          const torch::Tensor& class_labels) {
    if (class_labels.defined())
      fail(describe(), "a class-conditional model for class labels", "an unconditional one");
    return predict_noise(x, t);
  }
  /// Score-SDE models (time_embedding_type "fourier") take noise levels sigma, not timesteps,
  /// and are sampled by diffusion/score_sde_ve.h only.
  virtual bool takes_sigma() const { return false; }
  virtual int64_t in_channels() const = 0;
  virtual int64_t sample_size() const = 0;  // H
  virtual int64_t sample_width() const { return sample_size(); }  // W (square unless overridden)
  virtual torch::Device device() const = 0;
  /// Human-readable description for reports ("UNet2D 0.58M params", "TorchScript model.pt").
  virtual std::string describe() const = 0;
};

/// Refuses, naming `stage`, the models only `diffmem sample` handles: class-conditional ones and
/// score-SDE (sigma-input) ones. Stages call it before their first expensive step.
inline void require_unconditional(const Denoiser& d, const std::string& stage) {
  if (d.num_classes() > 0)
    fail(stage + ": " + d.describe(), "an unconditional model",
         "a class-conditional one (" + std::to_string(d.num_classes()) +
             " classes; only `diffmem sample` supports those)");
  if (d.takes_sigma())
    fail(stage + ": " + d.describe(), "a model of timesteps",
         "a score-SDE model of noise levels (time_embedding_type fourier; only `diffmem sample` "
         "supports those)");
}

}  // namespace diffmem::model
