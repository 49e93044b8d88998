#include "diffmem/diffusion/inpaint.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/diffusion/ddim.h"
#include "diffmem/diffusion/ddpm.h"
#include "diffmem/diffusion/noise.h"

namespace diffmem::diffusion {
namespace {

// The timestep a scheduler's step at t lands on (< 0: the step produces x_0). The Scheduler
// interface hides it, but the known region must be noised to exactly that level.
int64_t previous_of(const Scheduler& s, int64_t t) {
  if (auto* d = dynamic_cast<const DdpmScheduler*>(&s)) return d->previous_timestep(t);
  if (auto* d = dynamic_cast<const DdimScheduler*>(&s)) return d->previous_timestep(t);
  fail("inpaint", "a ddpm or ddim scheduler", s.name());
}

int64_t forwards_of(const Scheduler& s, int64_t r) {
  int64_t n = 0;
  for (int64_t t : s.timesteps()) n += previous_of(s, t) >= 0 ? r : 1;
  return n;
}

}  // namespace

void validate(const InpaintOptions& o, const std::string& where) {
  validate(sample_options(o), where);
  if (o.resample_jumps < 1)
    fail(where + ": resample_jumps", "an integer >= 1 (1 = no resampling)",
         std::to_string(o.resample_jumps));
}

SampleOptions sample_options(const InpaintOptions& o) {
  SampleOptions s;
  s.sampler = o.sampler;
  s.steps = o.steps;
  s.eta = o.eta;
  s.clip = o.clip;
  s.batch = o.batch;
  return s;
}

int64_t inpaint_forwards(const NoiseSchedule& schedule, const InpaintOptions& options) {
  validate(options, "inpaint options");
  return forwards_of(*make_scheduler(schedule, sample_options(options)), options.resample_jumps);
}

torch::Tensor inpaint(model::Denoiser& denoiser, const NoiseSchedule& schedule,
                      const torch::Tensor& known, const torch::Tensor& mask,
                      const std::vector<uint64_t>& seeds, const InpaintOptions& options,
                      const ProgressFn& progress) {
  validate(options, "inpaint options");
  const int64_t C = denoiser.in_channels(), S = denoiser.sample_size(), W = denoiser.sample_width();
  check(known.defined() && known.dim() == 4 && known.size(1) == C && known.size(2) == S &&
            known.size(3) == W,
        "inpaint: known images",
        "[N," + std::to_string(C) + "," + std::to_string(S) + "," + std::to_string(W) +
            "] for " + denoiser.describe(),
        known.defined() ? io::shape_str(known) : "an undefined tensor");
  const int64_t n = known.size(0);
  check(mask.defined() && mask.dim() == 4 && (mask.size(0) == 1 || mask.size(0) == n) &&
            mask.size(1) == 1 && mask.size(2) == S && mask.size(3) == W,
        "inpaint: mask",
        "[" + std::to_string(n) + " or 1,1," + std::to_string(S) + "," + std::to_string(W) + "]",
        mask.defined() ? io::shape_str(mask) : "an undefined tensor");
  auto mask_f = mask.to(torch::kCPU, torch::kFloat32);
  check(((mask_f == 0) | (mask_f == 1)).all().item<bool>(), "inpaint: mask",
        "values 0 (inpaint) and 1 (known) only", "other values");
  check(static_cast<int64_t>(seeds.size()) == n, "inpaint: seeds",
        std::to_string(n) + " seeds (one per image)", std::to_string(seeds.size()));

  auto scheduler = make_scheduler(schedule, sample_options(options));
  const auto& timesteps = scheduler->timesteps();
  const int64_t r = options.resample_jumps;
  const torch::Device device = denoiser.device();
  const int64_t n_batches = (n + options.batch - 1) / options.batch;
  auto t_opts = torch::TensorOptions().dtype(torch::kLong).device(device);

  torch::NoGradGuard no_grad;
  ProgressMeter meter(progress, "inpaint", n_batches * forwards_of(*scheduler, r), "steps");
  int64_t done = 0;
  std::vector<torch::Tensor> out;
  for (int64_t lo = 0; lo < n; lo += options.batch) {
    const int64_t hi = std::min(n, lo + options.batch), b = hi - lo;
    auto x0 = known.slice(0, lo, hi).to(device, torch::kFloat32);
    auto m = mask_f.size(0) == 1 ? mask_f : mask_f.slice(0, lo, hi);
    auto keep = (m > 0.5).to(device).expand({b, C, S, W});
    auto gens = make_generators(std::vector<uint64_t>(seeds.begin() + lo, seeds.begin() + hi));
    auto noised = [&](int64_t t, const torch::Tensor& eps) {
      return add_noise(schedule, x0, eps, torch::full({b}, t, t_opts));
    };

    auto z = randn_per_image(gens, {C, S, W}).to(device);
    auto x = torch::where(keep, noised(timesteps.front(), z), z);
    for (int64_t t : timesteps) {
      const int64_t prev = previous_of(*scheduler, t);
      const int64_t rounds = prev >= 0 ? r : 1;
      for (int64_t u = 0; u < rounds; ++u) {
        auto eps = denoiser.predict_noise(x, torch::full({b}, t, t_opts));
        scheduler->check_output(eps, x, "inpaint: " + denoiser.describe());
        auto x_prev = scheduler->step(eps.to(torch::kFloat32), t, x, gens).prev_sample;
        auto known_prev = prev >= 0 ? noised(prev, randn_per_image(gens, {C, S, W}).to(device)) : x0;
        x_prev = torch::where(keep, known_prev, x_prev);
        if (u + 1 < rounds) {
          // q(x_t | x_prev): the forward process over the scheduler's (possibly strided) gap.
          const double ratio = double(schedule.alpha_cumprod(t)) / schedule.alpha_cumprod(prev);
          auto w = randn_per_image(gens, {C, S, W}).to(device);
          x = std::sqrt(ratio) * x_prev + std::sqrt(std::max(0.0, 1.0 - ratio)) * w;
        } else {
          x = x_prev;
        }
        meter.update(++done, "images " + std::to_string(lo) + "/" + std::to_string(n));
      }
    }
    out.push_back(torch::where(keep, x0, x.clamp(-1, 1)).to(torch::kCPU));
  }
  meter.finish("images " + std::to_string(n) + "/" + std::to_string(n));
  if (out.empty()) return torch::empty({0, C, S, W}, torch::kFloat32);
  return torch::cat(out, 0);
}

}  // namespace diffmem::diffusion
