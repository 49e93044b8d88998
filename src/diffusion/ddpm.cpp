#include "diffmem/diffusion/ddpm.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"
#include "coefficient.h"

namespace diffmem::diffusion {
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

bool DdpmScheduler::learns_variance() const {
  const std::string& v = schedule_.config().variance_type;
  return v == "learned_range" || v == "learned";
}

StepOutput DdpmScheduler::do_step(const torch::Tensor& model_output_in, int64_t t,
                                  const torch::Tensor& sample, const torch::Tensor& noise) const {
  const auto& cfg = schedule_.config();
  const int64_t prev_t = previous_timestep(t);
  // A model with a learned variance outputs 2C channels: the prediction, then the variance.
  torch::Tensor model_output = model_output_in, predicted_variance;
  if (learns_variance() && model_output_in.size(1) == 2 * sample.size(1)) {
    model_output = model_output_in.slice(1, 0, sample.size(1));
    predicted_variance = model_output_in.slice(1, sample.size(1));
  }
  const float alpha_prod_t = schedule_.alpha_cumprod(t);
  const float alpha_prod_t_prev = prev_t >= 0 ? schedule_.alpha_cumprod(prev_t) : 1.0f;
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
  const float current_alpha_t = alpha_prod_t / alpha_prod_t_prev;
  const float current_beta_t = 1.0f - current_alpha_t;

  const torch::Tensor x0 = limit_x0(cfg, split_prediction(cfg, model_output, sample, alpha_prod_t).x0);
  const float x0_coeff = (std::sqrt(alpha_prod_t_prev) * current_beta_t) / beta_prod_t;
  const float xt_coeff = std::sqrt(current_alpha_t) * beta_prod_t_prev / beta_prod_t;
  auto prev = detail::coefficient(x0_coeff) * x0 + detail::coefficient(xt_coeff) * sample;

  if (t > 0) {
    // The posterior variance, clamped as diffusers does so that sqrt and log never see 0.
    const float posterior =
        std::max((1.0f - alpha_prod_t_prev) / (1.0f - alpha_prod_t) * current_beta_t, 1e-20f);
    if (cfg.variance_type == "learned_range") {
      if (!predicted_variance.defined())
        fail(name() + " step at t=" + std::to_string(t), "a model output of 2x the sample's channels "
             "(variance_type learned_range)", io::shape_str(model_output_in));
      // Interpolate log-variance between the posterior's and beta_t's, as improved DDPM does.
      const torch::Tensor min_log = torch::log(detail::coefficient(posterior)), max_log = torch::log(detail::coefficient(current_beta_t));
      const torch::Tensor frac = (predicted_variance + 1) / 2;
      const torch::Tensor log_var = frac * max_log + (1 - frac) * min_log;
      prev = prev + torch::exp(0.5 * log_var) * noise;
    } else if (cfg.variance_type == "learned") {
      if (!predicted_variance.defined())
        fail(name() + " step at t=" + std::to_string(t), "a model output of 2x the sample's channels "
             "(variance_type learned)", io::shape_str(model_output_in));
      prev = prev + predicted_variance.pow(0.5) * noise;
    } else {
      const float variance = cfg.variance_type == "fixed_large" ? current_beta_t : posterior;
      prev = prev + detail::coefficient(std::sqrt(variance)) * noise;
    }
  }
  return {prev, x0};
}

}  // namespace diffmem::diffusion
