// SdPipeline::probe: the measurements first-step memorization screens read (attack/screen.h).
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "diffmem/core/error.h"
#include "sd_pipeline_internal.h"

namespace diffmem::diffusion {
namespace {

// The model's output as noise: v- and x0-predictions converted with alpha-bar at the nearest
// integer timestep (exact for the integer-timestep samplers; the Euler ones visit fractional t).
torch::Tensor as_noise(const NoiseSchedule& schedule, const torch::Tensor& output,
                       const torch::Tensor& input, double t, const std::string& where) {
  const int64_t T = schedule.num_train_timesteps();
  const int64_t ti = std::min<int64_t>(T - 1, std::max<int64_t>(0, std::llround(t)));
  return predicted_noise(schedule, output, input, torch::full({input.size(0)}, ti, torch::kLong),
                         [&] { return where; });
}

}  // namespace

SdProbe SdPipeline::probe(const std::vector<std::string>& prompts, const std::vector<uint64_t>& seeds,
                          const SdPipelineOptions& o, const SdProbeOptions& po,
                          const ProgressFn& progress) const {
  validate(o, po, "text-to-image probe options");
  check(seeds.size() == prompts.size(), "seeds", "one per prompt (" + std::to_string(prompts.size()) + ")",
        std::to_string(seeds.size()));
  Parts& p = *parts_;
  const SchedulerConfig sampling = detail::sd_sampling_config(p, o);
  const NoiseSchedule schedule(sampling);
  const std::vector<int64_t> latent = detail::sd_latent_shape(p, o);
  const int64_t n = static_cast<int64_t>(prompts.size());
  const std::string where = p.dir.string() + ": unet";

  torch::NoGradGuard no_grad;
  SdProbe out;
  std::vector<torch::Tensor> norms, cosines;
  const int64_t passes = po.first_steps + (po.low_from_end > 0 ? 1 : 0);
  ProgressMeter meter(progress, "screen", n * passes, "passes");
  for (int64_t start = 0; start < n; start += o.batch) {
    const int64_t end = std::min(n, start + o.batch), b = end - start;
    const torch::Tensor context = detail::sd_context(*this, prompts, {}, start, end, o.clip_skip, true);
    auto scheduler = make_sd_scheduler(sampling, o.steps);
    auto [gens, latents] =
        detail::sd_initial_latents(seeds, start, end, latent, scheduler->init_noise_sigma(), p.device);
    const torch::Tensor initial = latents;
    const auto noise = detail::sd_step_noise(gens);
    // Guided U-Net call at step i of the schedule on x: (uncond eps, cond eps, guided output).
    auto guided = [&](const torch::Tensor& x, size_t i) {
      const torch::Tensor in = scheduler->scale_model_input(torch::cat({x, x}), i);
      const double ts = scheduler->timesteps()[i];
      const torch::Tensor raw =
          p.unet->forward(in, torch::full({1}, ts, torch::TensorOptions().dtype(torch::kFloat32)), context);
      out.unet_images += 2 * b;
      const auto halves = raw.chunk(2);
      const auto in_half = in.chunk(2)[0];
      return std::make_tuple(as_noise(schedule, halves[0], in_half, ts, where),
                             as_noise(schedule, halves[1], in_half, ts, where),
                             halves[0] + o.guidance_scale * (halves[1] - halves[0]));
    };
    std::vector<torch::Tensor> step_norms;
    for (int64_t s = 0; s < po.first_steps; ++s) {
      auto [uncond, cond, guided_out] = guided(latents, static_cast<size_t>(s));
      step_norms.push_back((cond - uncond).reshape({b, -1}).norm(2, {1}).to(torch::kCPU, torch::kFloat64));
      if (s + 1 < po.first_steps) latents = scheduler->step(guided_out, static_cast<size_t>(s), latents, noise);
      meter.update(start * passes + (s + 1) * b);
    }
    norms.push_back(torch::stack(step_norms, 1));
    if (po.low_from_end > 0) {
      // A fresh scheduler: the low-noise pass is a lone evaluation, not a step of the trajectory.
      scheduler = make_sd_scheduler(sampling, o.steps);
      const size_t low = scheduler->timesteps().size() - static_cast<size_t>(po.low_from_end);
      auto [uncond, cond, unused] = guided(initial, low);
      (void)unused;
      const auto cos = torch::nn::functional::cosine_similarity(
          uncond, cond - uncond, torch::nn::functional::CosineSimilarityFuncOptions().dim(1));
      cosines.push_back(cos.reshape({b, -1}).mean(1).to(torch::kCPU, torch::kFloat64));
      meter.update(start * passes + passes * b);
    } else {
      cosines.push_back(torch::full({b}, std::numeric_limits<double>::quiet_NaN(), torch::kFloat64));
    }
  }
  meter.finish();
  out.first_norms = n ? torch::cat(norms) : torch::empty({0, po.first_steps}, torch::kFloat64);
  out.low_cosine = n ? torch::cat(cosines) : torch::empty({0}, torch::kFloat64);
  return out;
}

}  // namespace diffmem::diffusion
