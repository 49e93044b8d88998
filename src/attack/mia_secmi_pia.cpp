// SecMI (Duan et al. 2023) and PIA (Kong et al. 2024): deterministic statistics that replace the
// loss's random noise with the model's own predictions.
#include <torch/torch.h>

#include <cmath>

#include "diffmem/attack/mia_scores.h"
#include "diffmem/core/error.h"
#include "mia_items.h"

namespace diffmem::attack {
namespace {

torch::Tensor timesteps(int64_t t, int64_t n, const torch::Device& device) {
  return torch::full({n}, t, torch::TensorOptions().dtype(torch::kLong).device(device));
}

// The model's noise estimate, whatever it predicts (eps, v, x0; a learned variance dropped).
torch::Tensor predict(model::Denoiser& d, const diffusion::NoiseSchedule& schedule, const torch::Tensor& x,
                      int64_t t) {
  const torch::Tensor tt = timesteps(t, x.size(0), x.device());
  return diffusion::predicted_noise(schedule, d.predict_noise(x, tt), x, tt, [&] { return d.describe(); });
}

detail::ItemLayout flip_layout(bool flip, int64_t batch) {
  detail::ItemLayout l;
  l.per_example = flip ? 2 : 1;
  l.flip_from = 1;  // slot 1 (present only with flip) is the mirror
  l.batch = batch;
  return l;
}

}  // namespace

torch::Tensor ddim_move(const diffusion::NoiseSchedule& schedule, const torch::Tensor& x,
                        const torch::Tensor& eps, int64_t from, int64_t to) {
  const double ab_from = schedule.alpha_cumprod(from), ab_to = schedule.alpha_cumprod(to);
  auto x0_pred = (x - std::sqrt(1.0 - ab_from) * eps) / std::sqrt(ab_from);
  return std::sqrt(ab_to) * x0_pred + std::sqrt(1.0 - ab_to) * eps;
}

std::vector<double> secmi_errors(model::Denoiser& denoiser, const diffusion::NoiseSchedule& schedule,
                                 const data::Dataset& ds, const SecMiOptions& o,
                                 const ProgressFn& progress) {
  validate(o, schedule.num_train_timesteps(), "mia secmi options");
  torch::NoGradGuard no_grad;
  const int64_t m = o.t - o.step;  // where the round trip starts and ends
  auto fn = [&](const detail::ItemBatch& b) {
    // x̃_m: deterministic inversion 0 → step → … → m (x0 itself when m = 0).
    torch::Tensor x = b.x0;
    for (int64_t from = 0; from < m; from += o.step)
      x = ddim_move(schedule, x, predict(denoiser, schedule, x, from), from, from + o.step);
    auto up = ddim_move(schedule, x, predict(denoiser, schedule, x, m), m, o.t);
    auto back = ddim_move(schedule, up, predict(denoiser, schedule, up, o.t), o.t, m);
    return (back - x).pow(2).mean(std::vector<int64_t>{1, 2, 3});
  };
  return detail::mean_over_items(ds, flip_layout(o.flip, o.batch), denoiser.device(), fn, progress,
                                 "mia secmi");
}

std::vector<double> pia_errors(model::Denoiser& denoiser, const diffusion::NoiseSchedule& schedule,
                               const data::Dataset& ds, const PiaOptions& o,
                               const ProgressFn& progress) {
  validate(o, schedule.num_train_timesteps(), "mia pia options");
  torch::NoGradGuard no_grad;
  auto fn = [&](const detail::ItemBatch& b) {
    auto eps0 = predict(denoiser, schedule, b.x0, 0);
    auto x_t = diffusion::add_noise(schedule, b.x0, eps0, timesteps(o.t, b.x0.size(0), b.x0.device()));
    auto d = (predict(denoiser, schedule, x_t, o.t) - eps0).abs();
    return d.pow(static_cast<double>(o.p)).mean(std::vector<int64_t>{1, 2, 3});
  };
  return detail::mean_over_items(ds, flip_layout(o.flip, o.batch), denoiser.device(), fn, progress,
                                 "mia pia");
}

}  // namespace diffmem::attack
