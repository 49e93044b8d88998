#pragma once
// The forward process: the beta / alpha-bar tables a scheduler config (scheduler_config.h)
// implies, computed in the same precision and order as diffusers so that a model trained here
// samples identically there and the other way round.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "diffmem/diffusion/scheduler_config.h"
#include "diffmem/io/json.h"

namespace diffmem::diffusion {

/// diffusers' set_timesteps(steps): descending training timesteps visited by a sampler.
/// 1 <= steps <= num_train_timesteps. May contain values >= T when steps_offset pushes them there
/// (as diffusers does); the schedulers reject those when stepped.
std::vector<int64_t> inference_timesteps(const SchedulerConfig& config, int64_t steps);

/// Betas, alphas and their cumulative product, f32 on the CPU, as diffusers computes them.
class NoiseSchedule {
 public:
  explicit NoiseSchedule(const SchedulerConfig& config = {});

  const SchedulerConfig& config() const { return config_; }
  int64_t num_train_timesteps() const { return config_.num_train_timesteps; }
  /// [T] f32 CPU.
  const torch::Tensor& betas() const { return betas_; }
  const torch::Tensor& alphas() const { return alphas_; }
  const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  /// alpha-bar_t as the f32 value diffusers uses; t must lie in [0, T).
  float alpha_cumprod(int64_t t) const;

 private:
  SchedulerConfig config_;
  torch::Tensor betas_, alphas_, alphas_cumprod_;
  std::vector<float> host_alphas_cumprod_;
};

/// What the step formulas of diffusers make of a model's output under config.prediction_type:
/// the predicted x0 and eps, as 0-d f32 coefficient arithmetic in diffusers' order. `output` has
/// the sample's shape (a learned variance already split off); alpha_prod_t = alpha-bar_t.
struct Prediction {
  torch::Tensor x0, eps;
};
Prediction split_prediction(const SchedulerConfig& config, const torch::Tensor& output,
                            const torch::Tensor& sample, float alpha_prod_t);
/// x0 as the steps use it: dynamic thresholding when config.thresholding, else clip_sample's
/// clamp, else unchanged (diffusers' _threshold_sample: per image, the ratio-quantile of |x0|
/// clamped to [1, sample_max_value], then x0 clamped to ±s and divided by s).
torch::Tensor limit_x0(const SchedulerConfig& config, const torch::Tensor& x0);
/// The noise a model's output stands for at timesteps t ([N] i64) of x_t, for the attacks and
/// losses that compare noise: eps as is, v and x0 converted with alpha-bar_t; a learned variance's
/// extra channels dropped. output [N,2C or C,...], x_t [N,C,...] → [N,C,...] f32. A wrong shape
/// throws diffmem::Error naming where() (the model; asked only then, as callers sit in training
/// and scoring loops).
torch::Tensor predicted_noise(const NoiseSchedule& schedule, const torch::Tensor& output,
                              const torch::Tensor& x_t, const torch::Tensor& t,
                              const std::function<std::string()>& where);

/// x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps (diffusers' add_noise, same f32 arithmetic).
/// x0, eps: [N,...] f32 on one device; t: [N] i64 (any device) → [N,...] f32.
torch::Tensor add_noise(const NoiseSchedule& schedule, const torch::Tensor& x0,
                        const torch::Tensor& eps, const torch::Tensor& t);

}  // namespace diffmem::diffusion
