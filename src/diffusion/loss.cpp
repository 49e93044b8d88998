#include "diffmem/diffusion/loss.h"

#include <torch/torch.h>

#include "diffmem/core/error.h"

namespace diffmem::diffusion {

LossOutput noise_prediction_loss(model::Denoiser& denoiser, const NoiseSchedule& schedule,
                                 const torch::Tensor& x0, const torch::Tensor& t,
                                 const torch::Tensor& eps) {
  if (x0.dim() != 4) fail("noise_prediction_loss", "x0 of shape [N,C,H,W]", std::to_string(x0.dim()) + "-D");
  auto x_t = add_noise(schedule, x0, eps, t);
  const torch::Tensor tt = t.to(x0.device(), torch::kLong);
  const torch::Tensor output = denoiser.predict_noise(x_t, tt);
  // A v- or x0-predicting model is scored on the noise it implies, as the attacks expect.
  const torch::Tensor pred =
      predicted_noise(schedule, output, x_t, tt, [&] { return "noise_prediction_loss: " + denoiser.describe(); });
  auto sq = (pred.to(torch::kFloat32) - eps.to(torch::kFloat32)).pow(2);
  LossOutput out;
  out.loss = sq.mean();
  out.per_example = sq.mean(std::vector<int64_t>{1, 2, 3});
  out.prediction = pred.to(torch::kFloat32);  // bf16 or fp16 under autocast
  return out;
}

}  // namespace diffmem::diffusion
