// The scheduler settings beyond epsilon / fixed variance, against diffusers' own steps
// (tests/reference/diffusion/make_scheduler_variants_reference.py): v- and x0-prediction, learned
// variances (improved DDPM's learned_range), dynamic thresholding, zero terminal SNR, and whole
// DDPM/DDIM loops with them.
#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/ddim.h"
#include "diffmem/diffusion/ddpm.h"
#include "diffmem/diffusion/sampler.h"
#include "diffusion_test_util.h"

using namespace diffmem;
using namespace diffmem::diffusion;

namespace {

const io::Json& variants() {
  static const io::Json ref =
      io::read_json(test::source_dir() + "/tests/reference/diffusion/scheduler_variants_reference.json");
  return ref;
}

SchedulerConfig config_of(const io::Json& e, const std::string& cls) {
  io::Json j = e;
  j["_class_name"] = cls;
  return scheduler_config_from_json(j, "variants reference");
}

std::unique_ptr<Scheduler> scheduler_of(const io::Json& e, const io::Json& config) {
  const std::string cls = e.at("scheduler").get<std::string>();
  const SchedulerConfig c = config_of(config, cls);
  int64_t steps = e.at("num_inference_steps").get<int64_t>();
  if (steps == 0) steps = c.num_train_timesteps;
  if (cls == "DDIMScheduler")
    return std::make_unique<DdimScheduler>(NoiseSchedule(c), steps, e.at("eta").get<double>());
  return std::make_unique<DdpmScheduler>(NoiseSchedule(c), steps);
}

// One recorded step: the same prev_sample and x0 as diffusers (relative where x0 is large: near
// t = T an unclipped x0 reaches hundreds).
int check_steps(const io::Json& cases) {
  int n = 0;
  for (const auto& e : cases) {
    const auto sched = scheduler_of(e, e.at("config"));
    const int64_t t = e.at("timestep").get<int64_t>();
    SCOPED_TRACE(e.at("config").dump() + " t=" + std::to_string(t));
    const torch::Tensor noise = e.contains("noise") ? test::ref_tensor(e.at("noise")) : torch::Tensor();
    const auto out = sched->step(test::ref_tensor(e.at("model_output")), t, test::ref_tensor(e.at("sample")), noise);
    const torch::Tensor ref_prev = test::ref_tensor(e.at("prev_sample"));
    const torch::Tensor ref_x0 = test::ref_tensor(e.at("pred_original_sample"));
    EXPECT_LT(test::max_abs_diff(out.prev_sample, ref_prev), 1e-5 * std::max(1.0, ref_prev.abs().max().item<double>()));
    EXPECT_LT(test::max_abs_diff(out.pred_original_sample, ref_x0),
              1e-5 * std::max(1.0, ref_x0.abs().max().item<double>()));
    ++n;
  }
  return n;
}

TEST(StepVariants, DdpmVAndSamplePredictionMatchDiffusers) {
  EXPECT_EQ(check_steps(variants().at("ddpm_prediction")), 32);
}

TEST(StepVariants, DdpmLearnedVarianceMatchesDiffusers) {
  EXPECT_EQ(check_steps(variants().at("ddpm_learned_range")), 20);
}

TEST(StepVariants, DynamicThresholdingMatchesDiffusers) {
  EXPECT_EQ(check_steps(variants().at("ddpm_thresholding")), 18);
  EXPECT_EQ(check_steps(variants().at("ddim_thresholding")), 18);
  // The threshold bites: the reference's unthresholded x0 leaves [-1, 1] and s exceeds 1.
  const auto& e = variants().at("ddpm_thresholding")[0];
  EXPECT_GT(test::ref_tensor(e.at("x0_unthresholded")).abs().max().item<double>(), 1.5);
}

TEST(StepVariants, DdimVAndSamplePredictionMatchDiffusers) {
  EXPECT_EQ(check_steps(variants().at("ddim_prediction")), 48);
}

TEST(StepVariants, ZeroTerminalSnrTablesAndStepsMatchDiffusers) {
  int n = 0;
  for (const auto& z : variants().at("zero_snr")) {
    SCOPED_TRACE(z.at("beta_schedule").get<std::string>());
    const NoiseSchedule s(config_of(z.at("ddpm_config"), "DDPMScheduler"));
    const auto table = [&](const char* key) {
      return torch::tensor(z.at(key).get<std::vector<double>>(), torch::kFloat64).to(torch::kFloat32);
    };
    // A few float32 ulps: torch 2.x's CPU cumprod accumulates in double, LibTorch 1.13's in float.
    EXPECT_LT(test::max_abs_diff(s.betas(), table("betas")), 1e-6);
    EXPECT_LT(test::max_abs_diff(s.alphas_cumprod(), table("alphas_cumprod")), 1e-6);
    EXPECT_EQ(s.alpha_cumprod(s.num_train_timesteps() - 1), 0.0f) << "alpha-bar_T is exactly 0";
    n += check_steps(z.at("ddpm_steps"));
    n += check_steps(z.at("ddim_steps"));
  }
  EXPECT_GT(n, 10);
}

// diffusers' pipelines with the affine stand-in model (a learned-range model adds 0.3 tanh(x)
// as its variance channels), one generator per image, batched 2 + 1.
class VariantDenoiser : public test::AffineDenoiser {
 public:
  VariantDenoiser(bool learned) : AffineDenoiser(1, 4), learned_(learned) {}
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override {
    const torch::Tensor eps = AffineDenoiser::predict_noise(x, t);
    return learned_ ? torch::cat({eps, 0.3 * torch::tanh(x)}, 1) : eps;
  }

 private:
  bool learned_;
};

TEST(StepVariants, PipelinesMatchDiffusers) {
  int n = 0;
  for (const auto& e : variants().at("pipelines")) {
    const std::string name = e.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const std::string cls = e.at("scheduler").get<std::string>();
    const SchedulerConfig c = config_of(e.at("config"), cls);
    SampleOptions o;
    o.sampler = cls == "DDIMScheduler" ? "ddim" : "ddpm";
    o.steps = e.at("steps").get<int64_t>();
    o.eta = e.at("eta").get<double>();
    o.batch = 2;
    VariantDenoiser model(c.variance_type == "learned_range");
    const torch::Tensor x = sample(model, NoiseSchedule(c), e.at("seeds").get<std::vector<uint64_t>>(), o);
    const torch::Tensor ref = test::ref_tensor(e.at("final"));
    EXPECT_LT(test::max_abs_diff(x, ref.clamp(-1, 1)), 1e-5);
    EXPECT_TRUE(torch::equal(to_uint8_nhwc(x), test::ref_tensor(e.at("uint8_nhwc"), torch::kUInt8)));
    ++n;
  }
  EXPECT_EQ(n, 6);
}

TEST(StepVariants, LearnedVarianceNeedsTheDoubledOutput) {
  SchedulerConfig c;
  c.variance_type = "learned_range";
  DdpmScheduler s(NoiseSchedule(c), 10);
  const torch::Tensor x = torch::zeros({1, 3, 4, 4});
  const std::string e = test::error_of([&] { s.step(torch::zeros({1, 3, 4, 4}), 900, x, torch::zeros({1, 3, 4, 4})); });
  EXPECT_NE(e.find("learned_range"), std::string::npos) << e;
  const std::string f = test::error_of([&] { s.step(torch::zeros({1, 5, 4, 4}), 900, x, torch::zeros({1, 3, 4, 4})); });
  EXPECT_NE(f.find("(1, 5, 4, 4)"), std::string::npos) << f;
}

// The attacks compare noise: a v- or x0-model's output is turned into the noise it implies.
TEST(StepVariants, PredictedNoiseInvertsEachPredictionType) {
  SchedulerConfig c;
  const torch::Tensor x0 = torch::linspace(-1, 1, 2 * 3 * 4 * 4).reshape({2, 3, 4, 4});
  const torch::Tensor eps = torch::cos(torch::arange(2 * 3 * 4 * 4).to(torch::kFloat32)).reshape({2, 3, 4, 4});
  const torch::Tensor t = torch::tensor({10, 700}, torch::kLong);
  for (const std::string type : {"epsilon", "v_prediction", "sample"}) {
    c.prediction_type = type;
    const NoiseSchedule s(c);
    const torch::Tensor x_t = add_noise(s, x0, eps, t);
    const torch::Tensor ab = s.alphas_cumprod().index_select(0, t).view({2, 1, 1, 1});
    const torch::Tensor out = type == "epsilon"        ? eps
                              : type == "v_prediction" ? ab.sqrt() * eps - (1 - ab).sqrt() * x0
                                                       : x0;
    EXPECT_LT(test::max_abs_diff(predicted_noise(s, out, x_t, t, [] { return "m"; }), eps), 1e-4) << type;
  }
}

}  // namespace
