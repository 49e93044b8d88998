#include "diffmem/diffusion/ddpm.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"

namespace diffmem::diffusion {
namespace {
// diffusers holds these coefficients as 0-d float32 tensors; float arithmetic here rounds the same
// way, and 0-d CPU tensors make the tensor ops below run the very kernels diffusers runs.
torch::Tensor s(float v) { return torch::scalar_tensor(v, torch::kFloat32); }
}  // namespace

DdpmScheduler::DdpmScheduler(NoiseSchedule schedule, int64_t num_inference_steps)
    : schedule_(std::move(schedule)),
      timesteps_(inference_timesteps(schedule_.config(), num_inference_steps)) {}

int64_t DdpmScheduler::previous_timestep(int64_t t) const {
  auto it = std::find(timesteps_.begin(), timesteps_.end(), t);
  if (it == timesteps_.end())
    fail("ddpm step", "a timestep of the sampling schedule", std::to_string(t));
  ++it;
  return it == timesteps_.end() ? -1 : *it;
}

StepOutput DdpmScheduler::do_step(const torch::Tensor& model_output, int64_t t,
                                  const torch::Tensor& sample, const torch::Tensor& noise) const {
  const auto& cfg = schedule_.config();
  const int64_t prev_t = previous_timestep(t);
  const float alpha_prod_t = schedule_.alpha_cumprod(t);
  const float alpha_prod_t_prev = prev_t >= 0 ? schedule_.alpha_cumprod(prev_t) : 1.0f;
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
  const float current_alpha_t = alpha_prod_t / alpha_prod_t_prev;
  const float current_beta_t = 1.0f - current_alpha_t;

  auto x0 = (sample - s(std::sqrt(beta_prod_t)) * model_output) / s(std::sqrt(alpha_prod_t));
  if (cfg.clip_sample) {
    x0 = x0.clamp(-cfg.clip_sample_range, cfg.clip_sample_range);
  }
  const float x0_coeff = (std::sqrt(alpha_prod_t_prev) * current_beta_t) / beta_prod_t;
  const float xt_coeff = std::sqrt(current_alpha_t) * beta_prod_t_prev / beta_prod_t;
  auto prev = s(x0_coeff) * x0 + s(xt_coeff) * sample;

  if (t > 0) {
    float variance;
    if (cfg.variance_type == "fixed_large") {
      variance = current_beta_t;
    } else {
      // The posterior variance, clamped as diffusers does so that sqrt never sees 0 or less.
      variance = (1.0f - alpha_prod_t_prev) / (1.0f - alpha_prod_t) * current_beta_t;
      variance = std::max(variance, 1e-20f);
    }
    prev = prev + s(std::sqrt(variance)) * noise;
  }
  return {prev, x0};
}

}  // namespace diffmem::diffusion
