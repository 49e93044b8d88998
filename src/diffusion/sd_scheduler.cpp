#include "diffmem/diffusion/sd_scheduler.h"

#include <torch/torch.h>

#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/ddim.h"
#include "sd_scheduler_internal.h"

namespace diffmem::diffusion {
namespace {

// Ascending "leading"/"trailing"/"linspace" timesteps as set_timesteps makes them.
std::vector<int64_t> ascending(const SchedulerConfig& c, int64_t steps) {
  std::vector<int64_t> t = inference_timesteps(c, steps);
  return {t.rbegin(), t.rend()};
}

// PNDMScheduler with skip_prk_steps: linear multistep (PLMS) on the model's outputs.
class Pndm : public SdScheduler {
 public:
  Pndm(const SchedulerConfig& c, int64_t steps)
      : schedule_(c), stride_(c.num_train_timesteps / steps), v_prediction_(c.prediction_type == "v_prediction") {
    if (c.prediction_type == "sample")
      fail("PNDMScheduler: prediction_type", "epsilon or v_prediction (as diffusers)", "\"sample\"");
    if (!c.skip_prk_steps)
      fail("PNDMScheduler: skip_prk_steps", "true (Stable Diffusion's PNDM; PRK steps are not implemented)",
           "false");
    const std::vector<int64_t> up = ascending(c, steps);  // _timesteps
    std::vector<int64_t> plms(up.begin(), up.end() - 1);
    if (up.size() >= 2) plms.push_back(up[up.size() - 2]);
    plms.push_back(up.back());
    for (auto it = plms.rbegin(); it != plms.rend(); ++it) timesteps_.push_back(double(*it));
    const torch::Tensor& ac = schedule_.alphas_cumprod();
    final_ = c.set_alpha_to_one ? torch::ones({}, torch::kFloat32) : ac[0].clone();
  }
  std::string name() const override { return "pndm"; }

  torch::Tensor step(const torch::Tensor& model_output, size_t, const torch::Tensor& sample_in,
                     const std::function<torch::Tensor(at::IntArrayRef)>&) override {
    // counter_ = number of steps taken so far (diffusers' self.counter).
    int64_t t = static_cast<int64_t>(timesteps_.at(counter_));
    int64_t prev = t - stride_;
    if (counter_ != 1) {
      if (ets_.size() > 3) ets_.erase(ets_.begin(), ets_.end() - 3);
      ets_.push_back(model_output);
    } else {
      prev = t;
      t = t + stride_;
    }
    torch::Tensor mo = model_output, sample = sample_in;
    const size_t n = ets_.size();
    if (n == 1 && counter_ == 0) {
      cur_sample_ = sample;
    } else if (n == 1 && counter_ == 1) {
      mo = (model_output + ets_.back()) / 2;
      sample = cur_sample_;
      cur_sample_ = torch::Tensor();
    } else if (n == 2) {
      mo = (3 * ets_[n - 1] - ets_[n - 2]) / 2;
    } else if (n == 3) {
      mo = (23 * ets_[n - 1] - 16 * ets_[n - 2] + 5 * ets_[n - 3]) / 12;
    } else {
      mo = (1.0 / 24) * (55 * ets_[n - 1] - 59 * ets_[n - 2] + 37 * ets_[n - 3] - 9 * ets_[n - 4]);
    }
    ++counter_;
    return prev_sample(sample, t, prev, mo);
  }

 private:
  // PNDM's formula (9), in diffusers' f32 order.
  torch::Tensor prev_sample(const torch::Tensor& x, int64_t t, int64_t prev, const torch::Tensor& mo) const {
    const torch::Tensor& ac = schedule_.alphas_cumprod();
    check(t >= 0 && t < schedule_.num_train_timesteps(), "PNDMScheduler", "timesteps below num_train_timesteps",
          std::to_string(t));
    const torch::Tensor a_t = ac[t], a_prev = prev >= 0 ? ac[prev] : final_;
    const torch::Tensor b_t = 1 - a_t, b_prev = 1 - a_prev;
    const torch::Tensor eps = v_prediction_ ? a_t.pow(0.5) * mo + b_t.pow(0.5) * x : mo;
    const torch::Tensor coeff = (a_prev / a_t).pow(0.5);
    const torch::Tensor denom = a_t * b_prev.pow(0.5) + (a_t * b_t * a_prev).pow(0.5);
    return coeff * x - (a_prev - a_t) * eps / denom;
  }

  NoiseSchedule schedule_;
  int64_t stride_;
  bool v_prediction_;
  torch::Tensor final_;
  size_t counter_ = 0;
  std::vector<torch::Tensor> ets_;
  torch::Tensor cur_sample_;
};

// DDIMScheduler with eta 0: the pixel-space DDIM step.
class Ddim : public SdScheduler {
 public:
  Ddim(const SchedulerConfig& c, int64_t steps) : ddim_(NoiseSchedule(c), steps, 0.0) {
    for (int64_t t : ddim_.timesteps()) timesteps_.push_back(double(t));
  }
  std::string name() const override { return "ddim"; }
  torch::Tensor step(const torch::Tensor& model_output, size_t i, const torch::Tensor& sample,
                     const std::function<torch::Tensor(at::IntArrayRef)>&) override {
    return ddim_.step(model_output, static_cast<int64_t>(timesteps_.at(i)), sample, torch::Tensor())
        .prev_sample;
  }

 private:
  DdimScheduler ddim_;
};

// EulerDiscreteScheduler (s_churn 0) and EulerAncestralDiscreteScheduler.
class Euler : public SdScheduler {
 public:
  Euler(const SchedulerConfig& c, int64_t steps, bool ancestral)
      : ancestral_(ancestral), prediction_type_(c.prediction_type) {
    const std::string cls = ancestral ? "EulerAncestralDiscreteScheduler" : "EulerDiscreteScheduler";
    if (c.use_karras_sigmas)
      fail(cls + ": use_karras_sigmas", "false (diffmem runs Karras sigmas with DPMSolverMultistepScheduler)",
           "true");
    if (c.final_sigmas_type != "zero") fail(cls + ": final_sigmas_type", "\"zero\"", "\"" + c.final_sigmas_type + "\"");
    if (c.thresholding) fail(cls + ": thresholding", "false (diffusers' Euler has none)", "true");
    if (ancestral && c.prediction_type == "sample")
      fail(cls + ": prediction_type", "epsilon or v_prediction (as diffusers)", "\"sample\"");
    const NoiseSchedule schedule(c);
    torch::Tensor ac = schedule.alphas_cumprod().clone();
    // diffusers' Euler keeps the last alpha-bar just above 0 so that sigma stays finite.
    if (c.rescale_betas_zero_snr) ac[-1] = std::ldexp(1.0, -24);
    const torch::Tensor full = ((1 - ac) / ac).pow(0.5);  // f32, as diffusers computes it
    const float* s = full.data_ptr<float>();
    const int64_t T = full.numel();
    for (int64_t t : inference_timesteps(c, steps)) timesteps_.push_back(double(float(t)));
    std::vector<float> sig;
    for (double t : timesteps_) {  // np.interp in float64, then float32
      const int64_t lo = std::min<int64_t>(static_cast<int64_t>(std::floor(t)), T - 1);
      const double v = lo + 1 < T ? double(s[lo]) + (t - lo) * (double(s[lo + 1]) - double(s[lo]))
                                  : double(s[T - 1]);
      sig.push_back(static_cast<float>(v));
    }
    sig.push_back(0.0f);  // final_sigmas_type "zero"
    sigmas_ = torch::tensor(sig, torch::kFloat32);
    const torch::Tensor max_sigma = sigmas_.max();
    init_noise_sigma_ = c.timestep_spacing == "leading" ? (max_sigma.pow(2) + 1).pow(0.5).item<float>()
                                                        : max_sigma.item<float>();
  }
  std::string name() const override { return ancestral_ ? "euler_a" : "euler"; }
  const torch::Tensor& sigmas() const { return sigmas_; }

  torch::Tensor scale_model_input(const torch::Tensor& x, size_t i) const override {
    return x / (sigmas_[static_cast<int64_t>(i)].pow(2) + 1).pow(0.5);
  }

  torch::Tensor step(const torch::Tensor& model_output, size_t i, const torch::Tensor& sample_in,
                     const std::function<torch::Tensor(at::IntArrayRef)>& noise) override {
    const torch::Tensor x = sample_in.to(torch::kFloat32);
    const torch::Tensor sigma = sigmas_[static_cast<int64_t>(i)], next = sigmas_[static_cast<int64_t>(i) + 1];
    torch::Tensor x0;
    if (prediction_type_ == "epsilon") x0 = x - sigma * model_output;
    else if (prediction_type_ == "v_prediction")
      x0 = model_output * (-sigma / (sigma.pow(2) + 1).pow(0.5)) + (x / (sigma.pow(2) + 1));
    else x0 = model_output;  // sample
    const torch::Tensor derivative = (x - x0) / sigma;
    if (!ancestral_) return x + derivative * (next - sigma);
    const torch::Tensor up = (next.pow(2) * (sigma.pow(2) - next.pow(2)) / sigma.pow(2)).pow(0.5);
    const torch::Tensor down = (next.pow(2) - up.pow(2)).pow(0.5);
    const torch::Tensor prev = x + derivative * (down - sigma);
    return prev + noise(model_output.sizes()).to(prev.device()) * up;
  }

 private:
  bool ancestral_;
  std::string prediction_type_;
  torch::Tensor sigmas_;
};

}  // namespace

namespace {
// The one table of sampler names and the diffusers classes they stand for.
const std::vector<std::pair<std::string, std::string>>& samplers() {
  static const std::vector<std::pair<std::string, std::string>> table = {
      {"pndm", "PNDMScheduler"},
      {"ddim", "DDIMScheduler"},
      {"euler", "EulerDiscreteScheduler"},
      {"euler_a", "EulerAncestralDiscreteScheduler"},
      {"dpmpp_2m", "DPMSolverMultistepScheduler"},
      {"dpmpp_2m_karras", "DPMSolverMultistepScheduler"}};
  return table;
}
}  // namespace

const std::vector<std::string>& sd_sampler_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& s : samplers()) n.push_back(s.first);
    return n;
  }();
  return names;
}

const std::string& sd_sampler_class(const std::string& sampler, const std::string& where) {
  for (const auto& s : samplers())
    if (s.first == sampler) return s.second;
  std::string names;
  for (const auto& s : samplers()) names += (names.empty() ? "" : ", ") + s.first;
  fail(where + ": sampler", "one of " + names, "'" + sampler + "'");
}

SchedulerConfig sd_sampler_config(const io::Json& config, const std::string& sampler, const std::string& where) {
  if (sampler.empty()) return scheduler_config_from_json(config, where);
  const std::string& cls = sd_sampler_class(sampler, where);
  io::Json j = config;
  // The switches of the old class mean nothing to the new one (diffusers drops unknown keys);
  // PNDM's skip_prk_steps, for instance, stays with PNDM.
  if (j.value("_class_name", "") != cls) {
    j.erase("skip_prk_steps");
    j.erase("use_karras_sigmas");
  }
  j["_class_name"] = cls;
  if (sampler == "dpmpp_2m_karras") j["use_karras_sigmas"] = true;
  if (sampler == "pndm") j["skip_prk_steps"] = true;  // the PLMS-only PNDM Stable Diffusion ships
  return scheduler_config_from_json(j, where + " as " + cls);
}

std::unique_ptr<SdScheduler> make_sd_scheduler(const SchedulerConfig& c, int64_t steps) {
  check(steps >= 1 && steps <= c.num_train_timesteps, "steps",
        "1.." + std::to_string(c.num_train_timesteps), std::to_string(steps));
  const std::string& k = c.class_name;
  if (k == "PNDMScheduler") return std::make_unique<Pndm>(c, steps);
  if (k == "EulerDiscreteScheduler") return std::make_unique<Euler>(c, steps, false);
  if (k == "EulerAncestralDiscreteScheduler") return std::make_unique<Euler>(c, steps, true);
  if (k == "DDIMScheduler") return std::make_unique<Ddim>(c, steps);
  if (k == "DPMSolverMultistepScheduler") return detail::make_dpm_solver(c, steps);
  fail("_class_name", "PNDMScheduler, DDIMScheduler, EulerDiscreteScheduler, "
                      "EulerAncestralDiscreteScheduler or DPMSolverMultistepScheduler", "'" + k + "'");
}

}  // namespace diffmem::diffusion
