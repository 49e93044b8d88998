#include "diffmem/diffusion/ddim.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"
#include "coefficient.h"

namespace diffmem::diffusion {
DdimScheduler::DdimScheduler(NoiseSchedule schedule, int64_t num_inference_steps, double eta)
    : schedule_(std::move(schedule)),
      timesteps_(inference_timesteps(schedule_.config(), num_inference_steps)),
      stride_(schedule_.num_train_timesteps() / num_inference_steps),
      eta_(eta) {
  if (!(eta >= 0) || !std::isfinite(eta))
    fail("ddim eta", "a finite number >= 0", std::to_string(eta));
}

StepOutput DdimScheduler::do_step(const torch::Tensor& model_output, int64_t t,
                                  const torch::Tensor& sample, const torch::Tensor& noise) const {
  const auto& cfg = schedule_.config();
  const int64_t prev_t = previous_timestep(t);
  const float final_alpha = cfg.set_alpha_to_one ? 1.0f : schedule_.alpha_cumprod(0);
  const float alpha_prod_t = schedule_.alpha_cumprod(t);
  const float alpha_prod_t_prev = prev_t >= 0 ? schedule_.alpha_cumprod(prev_t) : final_alpha;
  const float beta_prod_t = 1.0f - alpha_prod_t;

  const Prediction p = split_prediction(cfg, model_output, sample, alpha_prod_t);
  const torch::Tensor x0 = limit_x0(cfg, p.x0);
  const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
  const float variance = (beta_prod_t_prev / beta_prod_t) * (1.0f - alpha_prod_t / alpha_prod_t_prev);
  const float std_dev_t = static_cast<float>(eta_) * std::sqrt(variance);
  // Mathematically >= 0; rounding could dip below, where diffusers would produce NaN.
  const float dir_var = std::max(1.0f - alpha_prod_t_prev - std_dev_t * std_dev_t, 0.0f);
  auto prev = detail::coefficient(std::sqrt(alpha_prod_t_prev)) * x0 + detail::coefficient(std::sqrt(dir_var)) * p.eps;
  if (eta_ > 0) prev = prev + detail::coefficient(std_dev_t) * noise;
  return {prev, x0};
}

}  // namespace diffmem::diffusion
