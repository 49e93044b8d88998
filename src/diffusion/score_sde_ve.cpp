#include "diffmem/diffusion/score_sde_ve.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"

namespace diffmem::diffusion {

ScoreSdeVeTables score_sde_ve_tables(const SchedulerConfig& c, int64_t steps) {
  if (!c.score_sde_ve())
    fail("score-SDE sampler: scheduler config", "a ScoreSdeVeScheduler", c.class_name);
  if (steps < 1) fail("score-SDE sampler: steps", "at least 1", std::to_string(steps));
  validate(c, "ScoreSdeVeScheduler config");
  ScoreSdeVeTables t;
  t.timesteps = torch::linspace(1.0, c.sampling_eps, steps, torch::kFloat32);
  // [sigma_min * (sigma_max / sigma_min) ** t for t in timesteps]: float32 pow of a Python float
  // base, then the float32 product.
  t.sigmas = torch::pow(c.sigma_max / c.sigma_min, t.timesteps) * c.sigma_min;
  t.discrete_sigmas = torch::exp(
      torch::linspace(std::log(c.sigma_min), std::log(c.sigma_max), steps, torch::kFloat32));
  return t;
}

std::pair<torch::Tensor, torch::Tensor> score_sde_ve_predict(const ScoreSdeVeTables& tables,
                                                             int64_t step,
                                                             const torch::Tensor& model_output,
                                                             const torch::Tensor& sample,
                                                             const torch::Tensor& noise) {
  const int64_t n = tables.timesteps.size(0);
  // timesteps = (t * (len(timesteps) - 1)).long(): the float32 product, truncated.
  const int64_t index = (tables.timesteps[step] * (n - 1)).to(torch::kLong).item<int64_t>();
  const auto sigma = tables.discrete_sigmas[index];
  const auto adjacent = index == 0 ? torch::zeros_like(sigma) : tables.discrete_sigmas[index - 1];
  const auto diffusion = torch::pow(sigma * sigma - adjacent * adjacent, 0.5).to(sample.device());
  // drift = -diffusion^2 * model_output; prev_mean = sample - drift
  const auto mean = sample - (-(diffusion * diffusion) * model_output);
  return {mean + diffusion * noise, mean};
}

torch::Tensor score_sde_ve_correct(const SchedulerConfig& c, const torch::Tensor& model_output,
                                   const torch::Tensor& sample, const torch::Tensor& noise) {
  const int64_t b = sample.size(0);
  const auto grad_norm = model_output.reshape({b, -1}).norm(2, {1});
  const auto noise_norm = noise.reshape({b, -1}).norm(2, {1});
  const auto step = (torch::pow(c.snr * noise_norm / grad_norm, 2) * 2).view({b, 1, 1, 1});
  const auto mean = sample + step * model_output;
  return mean + torch::pow(step * 2, 0.5) * noise;
}

torch::Tensor sample_score_sde_ve(model::Denoiser& denoiser, const SchedulerConfig& config,
                                  const std::vector<uint64_t>& seeds, const SampleOptions& options,
                                  const ProgressFn& progress,
                                  const std::vector<int64_t>& class_labels) {
  if (!denoiser.takes_sigma())
    fail("score-SDE sampler: " + denoiser.describe(), "a score-SDE model (noise levels in)",
         "a model of timesteps");
  if (options.batch < 1) fail("sample options: batch", "an integer >= 1", std::to_string(options.batch));
  if (options.steps < 0)
    fail("sample options: steps", "an integer >= 0 (0 = default)", std::to_string(options.steps));
  check_class_labels(denoiser, seeds.size(), class_labels, "sample: class labels");
  const int64_t steps = options.steps > 0 ? options.steps : 2000;  // the pipeline's default
  const ScoreSdeVeTables tables = score_sde_ve_tables(config, steps);
  const int64_t n = static_cast<int64_t>(seeds.size());
  const int64_t C = denoiser.in_channels(), H = denoiser.sample_size(), W = denoiser.sample_width();
  const torch::Device device = denoiser.device();
  const int64_t n_batches = (n + options.batch - 1) / options.batch;

  torch::NoGradGuard no_grad;
  ProgressMeter meter(progress, "sample", n_batches * steps, "steps");
  std::vector<torch::Tensor> out;
  int64_t done = 0;
  for (int64_t lo = 0; lo < n; lo += options.batch) {
    const int64_t hi = std::min(n, lo + options.batch), b = hi - lo;
    auto gens = make_generators(std::vector<uint64_t>(seeds.begin() + lo, seeds.begin() + hi));
    auto x = (randn_per_image(gens, {C, H, W}) * config.sigma_max).to(device);  // init_noise_sigma
    const torch::Tensor labels = class_label_batch(class_labels, lo, hi, device);
    torch::Tensor mean = x;
    for (int64_t i = 0; i < steps; ++i) {
      const auto sigma_t = (tables.sigmas[i] * torch::ones({b})).to(device);
      for (int64_t k = 0; k < config.correct_steps; ++k) {
        const auto score = denoiser.predict_noise_for(x, sigma_t, labels).to(torch::kFloat32);
        x = score_sde_ve_correct(config, score, x, randn_per_image(gens, {C, H, W}).to(device));
      }
      const auto score = denoiser.predict_noise_for(x, sigma_t, labels).to(torch::kFloat32);
      std::tie(x, mean) =
          score_sde_ve_predict(tables, i, score, x, randn_per_image(gens, {C, H, W}).to(device));
      meter.update(++done, "images " + std::to_string(lo) + "/" + std::to_string(n));
    }
    out.push_back(mean.clamp(0, 1).to(torch::kCPU));
  }
  meter.finish("images " + std::to_string(n) + "/" + std::to_string(n));
  if (out.empty()) return torch::empty({0, C, H, W}, torch::kFloat32);
  return torch::cat(out, 0);
}

torch::Tensor unit_to_uint8_nhwc(const torch::Tensor& x) {
  if (x.dim() != 4 || !x.is_floating_point())
    fail("unit_to_uint8_nhwc", "a 4-D floating tensor [N,C,H,W]", std::to_string(x.dim()) + "-D");
  return (x.to(torch::kCPU, torch::kFloat32) * 255).round().to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
}

}  // namespace diffmem::diffusion
