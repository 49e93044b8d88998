// diffusers' DPMSolverMultistepScheduler with algorithm_type dpmsolver++ ("DPM++ 2M", and with
// use_karras_sigmas "DPM++ 2M Karras"): the model's output becomes an x0 prediction, and each step
// is an exponential integrator of order 1 or 2 in lambda = log(alpha / sigma). Timesteps and sigmas
// follow set_timesteps' numpy arithmetic (float64 where numpy promotes, float32 where it does not);
// the step formulas run on 0-d f32 tensors in diffusers' order.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"
#include "sd_scheduler_internal.h"

namespace diffmem::diffusion::detail {
namespace {

double nearbyint_even(double v) { return std::nearbyint(v); }

// _sigma_to_t: the fractional training timestep whose log-sigma interpolates to log(sigma).
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const int64_t T = static_cast<int64_t>(log_sigmas.size());
  int64_t low = 0;  // the last index with log_sigmas[i] <= log_sigma (0 when none)
  for (int64_t i = 0; i < T; ++i)
    if (log_sigma - double(log_sigmas[i]) >= 0) low = i;
  low = std::min(low, T - 2);
  const float lo = log_sigmas[low], hi = log_sigmas[low + 1];
  const float denom = lo - hi;  // numpy: float32 - float32 stays float32
  double w = (double(lo) - log_sigma) / double(denom);
  w = std::clamp(w, 0.0, 1.0);
  return (1 - w) * double(low) + w * double(low + 1);
}

class DpmSolver : public SdScheduler {
 public:
  DpmSolver(const SchedulerConfig& c, int64_t steps) : c_(c) {
    const NoiseSchedule schedule(c);
    torch::Tensor ac = schedule.alphas_cumprod().clone();
    if (c.rescale_betas_zero_snr) ac[-1] = std::ldexp(1.0, -24);
    const torch::Tensor all = ((1 - ac) / ac).pow(0.5);  // f32, as diffusers' sigmas
    const int64_t T = all.numel();
    std::vector<float> sig(all.data_ptr<float>(), all.data_ptr<float>() + T);

    std::vector<double> ts;  // lambda_min_clipped = -inf: the last timestep is T
    if (c.timestep_spacing == "linspace") {
      const double step = double(T - 1) / double(steps);
      for (int64_t i = steps; i >= 1; --i) ts.push_back(nearbyint_even(i == steps ? double(T - 1) : i * step));
    } else if (c.timestep_spacing == "leading") {
      const int64_t ratio = T / (steps + 1);
      for (int64_t i = steps; i >= 1; --i) ts.push_back(double(i * ratio + c.steps_offset));
    } else {
      for (int64_t t : inference_timesteps(c, steps)) ts.push_back(double(t));
    }

    std::vector<float> sigmas;
    if (c.use_karras_sigmas) {
      std::vector<float> log_sigmas(static_cast<size_t>(T));
      for (int64_t i = 0; i < T; ++i) log_sigmas[i] = std::log(sig[i]);
      const double sigma_min = sig.front(), sigma_max = sig.back(), rho = 7.0;
      const double min_inv = std::pow(sigma_min, 1 / rho), max_inv = std::pow(sigma_max, 1 / rho);
      ts.clear();
      for (int64_t i = 0; i < steps; ++i) {
        const double ramp = steps > 1 ? (i == steps - 1 ? 1.0 : double(i) * (1.0 / double(steps - 1))) : 0.0;
        const double s = std::pow(max_inv + ramp * (min_inv - max_inv), rho);
        sigmas.push_back(static_cast<float>(s));
        const double t = sigma_to_t(s, log_sigmas);
        ts.push_back(c.beta_schedule != "squaredcos_cap_v2" ? nearbyint_even(t) : t);
      }
    } else {
      for (double t : ts) {
        check(t >= 0 && t < double(T), "DPMSolverMultistepScheduler", "timesteps below num_train_timesteps",
              std::to_string(int64_t(t)));
        sigmas.push_back(sig[static_cast<size_t>(t)]);
      }
    }
    // Karras timesteps are integers after rounding; diffusers stores them as int64 either way.
    for (double& t : ts) t = std::trunc(t);
    sigmas.push_back(c.final_sigmas_type == "sigma_min" ? sig.front() : 0.0f);
    sigmas_ = torch::tensor(sigmas, torch::kFloat32);
    timesteps_ = ts;
    outputs_.resize(static_cast<size_t>(c.solver_order));
  }
  std::string name() const override { return c_.use_karras_sigmas ? "dpmpp_2m_karras" : "dpmpp_2m"; }

  torch::Tensor step(const torch::Tensor& model_output, size_t i, const torch::Tensor& sample_in,
                     const std::function<torch::Tensor(at::IntArrayRef)>&) override {
    check(i == next_, "DPMSolverMultistepScheduler step", "steps in order from 0 (step " + std::to_string(next_) + ")",
          "step " + std::to_string(i));
    const size_t n = timesteps_.size();
    const bool lower_final = i == n - 1 && (c_.euler_at_final || (c_.lower_order_final && n < 15) ||
                                            c_.final_sigmas_type == "zero");
    // (diffusers' lower_order_second only steps a third-order solver down; orders here are <= 2)
    const torch::Tensor x0 = to_x0(model_output, sample_in, i);
    for (size_t k = 0; k + 1 < outputs_.size(); ++k) outputs_[k] = outputs_[k + 1];
    outputs_.back() = x0;
    const torch::Tensor sample = sample_in.to(torch::kFloat32);
    torch::Tensor prev;
    if (c_.solver_order == 1 || lower_order_nums_ < 1 || lower_final) prev = first_order(x0, i, sample);
    else prev = second_order(i, sample);
    if (lower_order_nums_ < c_.solver_order) ++lower_order_nums_;
    ++next_;
    return prev.to(x0.scalar_type());
  }

 private:
  // _sigma_to_alpha_sigma_t
  std::pair<torch::Tensor, torch::Tensor> alpha_sigma(size_t k) const {
    const torch::Tensor sigma = sigmas_[static_cast<int64_t>(k)];
    const torch::Tensor alpha = 1 / (sigma.pow(2) + 1).pow(0.5);
    return {alpha, sigma * alpha};
  }

  torch::Tensor to_x0(const torch::Tensor& m, const torch::Tensor& sample, size_t i) const {
    torch::Tensor x0;
    if (c_.prediction_type == "sample") {
      x0 = m;
    } else {
      const auto [alpha_t, sigma_t] = alpha_sigma(i);
      x0 = c_.prediction_type == "epsilon" ? (sample - sigma_t * m) / alpha_t : alpha_t * sample - sigma_t * m;
    }
    if (c_.thresholding) x0 = limit_x0(c_, x0);
    return x0;
  }

  torch::Tensor first_order(const torch::Tensor& x0, size_t i, const torch::Tensor& sample) const {
    const auto [alpha_t, sigma_t] = alpha_sigma(i + 1);
    const auto [alpha_s, sigma_s] = alpha_sigma(i);
    const torch::Tensor h = (torch::log(alpha_t) - torch::log(sigma_t)) - (torch::log(alpha_s) - torch::log(sigma_s));
    return (sigma_t / sigma_s) * sample - (alpha_t * (torch::exp(-h) - 1.0)) * x0;
  }

  torch::Tensor second_order(size_t i, const torch::Tensor& sample) const {
    const auto [alpha_t, sigma_t] = alpha_sigma(i + 1);
    const auto [alpha_s0, sigma_s0] = alpha_sigma(i);
    const auto [alpha_s1, sigma_s1] = alpha_sigma(i - 1);
    const torch::Tensor lambda_t = torch::log(alpha_t) - torch::log(sigma_t);
    const torch::Tensor lambda_s0 = torch::log(alpha_s0) - torch::log(sigma_s0);
    const torch::Tensor lambda_s1 = torch::log(alpha_s1) - torch::log(sigma_s1);
    const torch::Tensor& m0 = outputs_[outputs_.size() - 1];
    const torch::Tensor& m1 = outputs_[outputs_.size() - 2];
    const torch::Tensor h = lambda_t - lambda_s0, h0 = lambda_s0 - lambda_s1;
    const torch::Tensor r0 = h0 / h;
    const torch::Tensor d1 = (1.0 / r0) * (m0 - m1);
    if (c_.solver_type == "midpoint")
      return (sigma_t / sigma_s0) * sample - (alpha_t * (torch::exp(-h) - 1.0)) * m0 -
             0.5 * (alpha_t * (torch::exp(-h) - 1.0)) * d1;
    return (sigma_t / sigma_s0) * sample - (alpha_t * (torch::exp(-h) - 1.0)) * m0 +
           (alpha_t * ((torch::exp(-h) - 1.0) / h + 1.0)) * d1;
  }

  SchedulerConfig c_;
  torch::Tensor sigmas_;
  std::vector<torch::Tensor> outputs_;
  int64_t lower_order_nums_ = 0;
  size_t next_ = 0;
};

}  // namespace

std::unique_ptr<SdScheduler> make_dpm_solver(const SchedulerConfig& c, int64_t steps) {
  return std::make_unique<DpmSolver>(c, steps);
}

}  // namespace diffmem::diffusion::detail
