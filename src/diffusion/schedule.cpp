#include "diffmem/diffusion/schedule.h"

#include <torch/torch.h>

#include <cmath>

#include "diffmem/core/error.h"

namespace diffmem::diffusion {
namespace {

// diffusers' betas_for_alpha_bar("cosine"): float64 in Python, then one cast to float32.
// std::pow(c, 2.0) rather than c * c because Python's `** 2` on a float calls libm pow.
torch::Tensor cosine_betas(int64_t T) {
  auto alpha_bar = [](double t) {
    return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2.0);
  };
  std::vector<float> betas(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) {
    double t1 = static_cast<double>(i) / static_cast<double>(T);
    double t2 = static_cast<double>(i + 1) / static_cast<double>(T);
    betas[static_cast<size_t>(i)] =
        static_cast<float>(std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999));
  }
  return torch::tensor(betas, torch::kFloat32);
}

// torch.linspace(start, end, steps, dtype=float32) as PyTorch 2.x computes it (checked against
// torch 2.15 for many ranges): one fused multiply-add per element, counted from the nearer end.
// libtorch 1.13's vectorized kernel rounds an element differently here and there, and diffusers'
// betas are defined by what current PyTorch produces, so the arithmetic is spelled out here.
torch::Tensor linspace_f32(double start, double end, int64_t steps) {
  const auto s = static_cast<float>(start), e = static_cast<float>(end);
  std::vector<float> v(static_cast<size_t>(steps), s);
  if (steps > 1) {
    const float step = (e - s) / static_cast<float>(steps - 1);
    const int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; ++i)
      v[static_cast<size_t>(i)] = i < half ? std::fma(step, static_cast<float>(i), s)
                                           : std::fma(-step, static_cast<float>(steps - i - 1), e);
  }
  return torch::tensor(v, torch::kFloat32);
}

// diffusers' rescale_zero_terminal_snr (Lin et al. 2023, algorithm 1), op for op in f32: shift
// sqrt(alpha-bar) so that its last entry is 0, rescale so that its first is unchanged.
torch::Tensor rescale_zero_terminal_snr(const torch::Tensor& betas) {
  const torch::Tensor alphas = 1.0 - betas;
  torch::Tensor bar_sqrt = torch::cumprod(alphas, 0).sqrt();
  const torch::Tensor first = bar_sqrt[0].clone(), last = bar_sqrt[-1].clone();
  bar_sqrt -= last;
  bar_sqrt *= first / (first - last);
  const torch::Tensor bar = bar_sqrt.pow(2);
  const int64_t T = bar.size(0);
  const torch::Tensor ratio = torch::cat({bar.slice(0, 0, 1), bar.slice(0, 1, T) / bar.slice(0, 0, T - 1)});
  return 1 - ratio;
}

// numpy's round (half to even) under the default rounding mode.
int64_t round_half_even(double v) { return static_cast<int64_t>(std::nearbyint(v)); }

}  // namespace

NoiseSchedule::NoiseSchedule(const SchedulerConfig& config) : config_(config) {
  validate(config_, "scheduler config");
  torch::NoGradGuard no_grad;
  const int64_t T = config_.num_train_timesteps;
  if (config_.beta_schedule == "linear") {
    betas_ = linspace_f32(config_.beta_start, config_.beta_end, T);
  } else if (config_.beta_schedule == "scaled_linear") {
    // Python's `beta_start**0.5` is libm pow, not sqrt; `** 2` on the tensor is x * x.
    auto r = linspace_f32(std::pow(config_.beta_start, 0.5), std::pow(config_.beta_end, 0.5), T);
    betas_ = r * r;
  } else {
    betas_ = cosine_betas(T);
  }
  if (config_.rescale_betas_zero_snr) betas_ = rescale_zero_terminal_snr(betas_);
  alphas_ = 1.0 - betas_;
  alphas_cumprod_ = torch::cumprod(alphas_, 0);
  auto acc = alphas_cumprod_.contiguous();
  host_alphas_cumprod_.assign(acc.data_ptr<float>(), acc.data_ptr<float>() + T);
}

float NoiseSchedule::alpha_cumprod(int64_t t) const {
  if (t < 0 || t >= num_train_timesteps())
    fail("NoiseSchedule", "a timestep in [0, " + std::to_string(num_train_timesteps()) + ")",
         std::to_string(t));
  return host_alphas_cumprod_[static_cast<size_t>(t)];
}

std::vector<int64_t> inference_timesteps(const SchedulerConfig& config, int64_t steps) {
  const int64_t T = config.num_train_timesteps;
  if (steps < 1 || steps > T)
    fail("inference steps", "an integer in [1, " + std::to_string(T) + "]", std::to_string(steps));
  std::vector<int64_t> ts;
  if (config.timestep_spacing == "linspace") {
    // np.linspace(0, T - 1, steps).round()[::-1]: i * step, last pinned to the end point.
    double step = steps > 1 ? static_cast<double>(T - 1) / static_cast<double>(steps - 1) : 0.0;
    for (int64_t i = 0; i < steps; ++i) {
      double v = (i == steps - 1 && steps > 1) ? static_cast<double>(T - 1) : i * step;
      ts.push_back(round_half_even(v));
    }
    std::reverse(ts.begin(), ts.end());
  } else if (config.timestep_spacing == "leading") {
    int64_t ratio = T / steps;
    for (int64_t i = steps - 1; i >= 0; --i) ts.push_back(i * ratio + config.steps_offset);
  } else if (config.timestep_spacing == "trailing") {
    // np.round(np.arange(T, 0, -T / steps)) - 1, with numpy's arange arithmetic: the length is
    // ceil(-T / step) and element i is start + i * ((start + step) - start).
    double start = static_cast<double>(T);
    double step = -(start / static_cast<double>(steps));
    auto n = static_cast<int64_t>(std::ceil((0.0 - start) / step));
    double delta = (start + step) - start;
    // For 62 step counts (61, 103, 121, ...) numpy's length comes out one too long and diffusers
    // ends with a spurious -1 (indexing alphas_cumprod[-1]); those entries are dropped here.
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = round_half_even(start + i * delta) - 1;
      if (v >= 0) ts.push_back(v);
    }
  } else {
    fail("timestep_spacing", "leading, trailing or linspace", config.timestep_spacing);
  }
  return ts;
}

torch::Tensor add_noise(const NoiseSchedule& schedule, const torch::Tensor& x0,
                        const torch::Tensor& eps, const torch::Tensor& t) {
  if (!x0.sizes().equals(eps.sizes()))
    fail("add_noise", "x0 and eps of one shape", "shapes differing");
  if (t.dim() != 1 || t.size(0) != x0.size(0))
    fail("add_noise", "t of shape [" + std::to_string(x0.size(0)) + "]",
         "a tensor of " + std::to_string(t.dim()) + " dims");
  auto tt = t.to(x0.device(), torch::kLong);
  auto acp = schedule.alphas_cumprod().to(x0.device(), x0.scalar_type());
  if (tt.numel() > 0) {
    int64_t lo = tt.min().item<int64_t>(), hi = tt.max().item<int64_t>();
    if (lo < 0 || hi >= schedule.num_train_timesteps())
      fail("add_noise", "timesteps in [0, " + std::to_string(schedule.num_train_timesteps()) + ")",
           "a timestep " + std::to_string(lo < 0 ? lo : hi));
  }
  std::vector<int64_t> bshape(static_cast<size_t>(x0.dim()), 1);
  bshape[0] = x0.size(0);
  auto ab = acp.index_select(0, tt);
  auto sqrt_ab = ab.pow(0.5).view(bshape);
  auto sqrt_1m = (1 - ab).pow(0.5).view(bshape);
  return sqrt_ab * x0 + sqrt_1m * eps;
}

}  // namespace diffmem::diffusion
