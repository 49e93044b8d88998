#include "diffmem/diffusion/sampler.h"

#include <torch/torch.h>

#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/core/precision.h"
#include "diffmem/diffusion/ddim.h"
#include "diffmem/diffusion/ddpm.h"
#include "diffmem/diffusion/noise.h"

namespace diffmem::diffusion {
namespace {

std::string key_of(const std::string& where, const std::string& key) { return where + ": " + key; }

int64_t default_steps(const SampleOptions& o, const NoiseSchedule& schedule) {
  if (o.steps > 0) return o.steps;
  // diffusers' pipeline defaults: DDPMPipeline 1000 (every training step), DDIMPipeline 50.
  return o.sampler == "ddim" ? std::min<int64_t>(50, schedule.num_train_timesteps())
                             : schedule.num_train_timesteps();
}

}  // namespace

void validate(const SampleOptions& o, const std::string& where) {
  if (o.sampler != "ddpm" && o.sampler != "ddim")
    fail(key_of(where, "sampler"), "ddpm or ddim", "\"" + o.sampler + "\"");
  if (o.steps < 0)
    fail(key_of(where, "steps"), "an integer >= 0 (0 = default)", std::to_string(o.steps));
  if (!std::isfinite(o.eta) || o.eta < 0)
    fail(key_of(where, "eta"), "a finite number >= 0", std::to_string(o.eta));
  if (o.sampler == "ddpm" && o.eta != 0)
    fail(key_of(where, "eta"), "0 with the ddpm sampler (eta is a ddim parameter)",
         std::to_string(o.eta));
  if (o.batch < 1) fail(key_of(where, "batch"), "an integer >= 1", std::to_string(o.batch));
  if (o.precision != "fp32" && o.precision != "bf16" && o.precision != "fp16")
    fail(key_of(where, "precision"), core::kPrecisions, "\"" + o.precision + "\"");
}

std::unique_ptr<Scheduler> make_scheduler(const NoiseSchedule& schedule,
                                          const SampleOptions& options) {
  validate(options, "sample options");
  NoiseSchedule sched = schedule;
  if (options.clip && *options.clip != schedule.config().clip_sample) {
    SchedulerConfig cfg = schedule.config();
    cfg.clip_sample = *options.clip;
    sched = NoiseSchedule(cfg);
  }
  int64_t steps = default_steps(options, schedule);
  if (options.sampler == "ddim") return std::make_unique<DdimScheduler>(sched, steps, options.eta);
  return std::make_unique<DdpmScheduler>(sched, steps);
}

void check_class_labels(const model::Denoiser& denoiser, size_t images, const std::vector<int64_t>& labels,
                        const std::string& where) {
  const bool labeled = denoiser.num_classes() > 0;
  if (labeled ? labels.size() != images : !labels.empty())
    fail(where,
         labeled ? "one per image (" + std::to_string(images) + ") for a class-conditional model"
                 : "none for an unconditional model",
         std::to_string(labels.size()));
}

torch::Tensor class_label_batch(const std::vector<int64_t>& labels, int64_t lo, int64_t hi, const torch::Device& device) {
  if (labels.empty()) return {};
  return torch::tensor(std::vector<int64_t>(labels.begin() + lo, labels.begin() + hi),
                       torch::TensorOptions().dtype(torch::kLong).device(device));
}

torch::Tensor sample(model::Denoiser& denoiser, const NoiseSchedule& schedule,
                     const std::vector<uint64_t>& seeds, const SampleOptions& options,
                     const ProgressFn& progress, const std::vector<int64_t>& class_labels) {
  if (denoiser.takes_sigma())
    fail("sample: " + denoiser.describe(),
         "a model of timesteps for a " + schedule.config().class_name,
         "a score-SDE model of noise levels (it needs a ScoreSdeVeScheduler config)");
  check_class_labels(denoiser, seeds.size(), class_labels, "sample: class labels");
  auto scheduler = make_scheduler(schedule, options);
  const auto& timesteps = scheduler->timesteps();
  const int64_t n = static_cast<int64_t>(seeds.size());
  const int64_t C = denoiser.in_channels(), H = denoiser.sample_size(), W = denoiser.sample_width();
  const torch::Device device = denoiser.device();
  core::check_precision(options.precision, device.str(), "sample options: precision (--precision)");
  const int64_t n_batches = (n + options.batch - 1) / options.batch;
  const int64_t n_steps = static_cast<int64_t>(timesteps.size());

  torch::NoGradGuard no_grad;
  ProgressMeter meter(progress, "sample", n_batches * n_steps, "steps");
  std::vector<torch::Tensor> out;
  int64_t done = 0;
  for (int64_t lo = 0; lo < n; lo += options.batch) {
    const int64_t hi = std::min(n, lo + options.batch);
    std::vector<uint64_t> batch_seeds(seeds.begin() + lo, seeds.begin() + hi);
    auto gens = make_generators(batch_seeds);
    auto x = randn_per_image(gens, {C, H, W}).to(device);
    auto t_opts = torch::TensorOptions().dtype(torch::kLong).device(device);
    const torch::Tensor labels = class_label_batch(class_labels, lo, hi, device);  // undefined: unconditional
    for (int64_t t : timesteps) {
      torch::Tensor eps;
      {
        const core::AutocastGuard autocast(options.precision, device.str());
        eps = denoiser.predict_noise_for(x, torch::full({hi - lo}, t, t_opts), labels);
      }
      scheduler->check_output(eps, x, "sample: " + denoiser.describe());
      x = scheduler->step(eps.to(torch::kFloat32), t, x, gens).prev_sample;
      meter.update(++done, "images " + std::to_string(lo) + "/" + std::to_string(n));
    }
    out.push_back(x.clamp(-1, 1).to(torch::kCPU));
  }
  meter.finish("images " + std::to_string(n) + "/" + std::to_string(n));
  if (out.empty()) return torch::empty({0, C, H, W}, torch::kFloat32);
  return torch::cat(out, 0);
}

torch::Tensor to_uint8_nhwc(const torch::Tensor& x) {
  if (x.dim() != 4 || !x.is_floating_point())
    fail("to_uint8_nhwc", "a 4-D floating tensor [N,C,H,W]", std::to_string(x.dim()) + "-D");
  auto y = (x.to(torch::kCPU, torch::kFloat32) / 2 + 0.5).clamp(0, 1);
  return (y * 255).round().to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
}

torch::Tensor from_uint8_nhwc(const torch::Tensor& u8) {
  if (u8.dim() != 4 || u8.scalar_type() != torch::kUInt8)
    fail("from_uint8_nhwc", "a 4-D uint8 tensor [N,H,W,C]",
         std::to_string(u8.dim()) + "-D " + std::string(c10::toString(u8.scalar_type())));
  auto x = u8.permute({0, 3, 1, 2}).contiguous().to(torch::kFloat32).div(255);
  return (x - 0.5) / 0.5;
}

}  // namespace diffmem::diffusion
