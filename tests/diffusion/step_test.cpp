// DDPMScheduler.step / DDIMScheduler.step against vectors diffusers computed
// (tests/reference/diffusion/make_scheduler_reference.py).
#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "diffmem/diffusion/ddim.h"
#include "diffmem/diffusion/ddpm.h"
#include "diffmem/diffusion/noise.h"
#include "diffusion_test_util.h"

using namespace diffmem;
using namespace diffmem::diffusion;

namespace {
// The arithmetic is diffusers' own, op for op, in float32, from the same alpha-bar table: the
// observed difference is 0. The bound allows another libtorch's kernels an ulp or two (unclipped x0
// predictions near t = T reach ~500, where an ulp is 3e-5, hence relative there).
constexpr double kTol = 1e-5;
}  // namespace

TEST(DdpmStep, MatchesDiffusers) {
  int n = 0;
  double worst = 0;
  for (const auto& e : test::scheduler_reference().at("ddpm_steps")) {
    SchedulerConfig c;
    c.variance_type = e.at("variance_type").get<std::string>();
    c.clip_sample = e.at("clip_sample").get<bool>();
    int64_t steps = e.at("num_inference_steps").get<int64_t>();
    DdpmScheduler sched(NoiseSchedule(c), steps == 0 ? 1000 : steps);
    int64_t t = e.at("timestep").get<int64_t>();
    SCOPED_TRACE(c.variance_type + " clip=" + std::to_string(c.clip_sample) +
                 " steps=" + std::to_string(steps) + " t=" + std::to_string(t));
    EXPECT_EQ(sched.previous_timestep(t), e.at("prev_timestep").get<int64_t>());
    auto out = sched.step(test::ref_tensor(e.at("model_output")), t, test::ref_tensor(e.at("sample")),
                          test::ref_tensor(e.at("noise")));
    double d = test::max_abs_diff(out.prev_sample, test::ref_tensor(e.at("prev_sample")));
    worst = std::max(worst, d);
    EXPECT_LT(d, kTol);
    auto ref_x0 = test::ref_tensor(e.at("pred_original_sample"));
    EXPECT_LT(test::max_abs_diff(out.pred_original_sample, ref_x0),
              kTol * std::max(1.0, ref_x0.abs().max().item<double>()));
    ++n;
  }
  EXPECT_EQ(n, 20);
  std::printf("[ ddpm step: max |diff| vs diffusers = %.3g over %d cases ]\n", worst, n);
}

// diffusers drew the noise with torch.Generator().manual_seed(s); libtorch's generator with the
// same seed must give the same numbers for the step to be reproducible across the two.
TEST(DdpmStep, GeneratorSeededLikeTorchGivesDiffusersNoise) {
  for (const auto& e : test::scheduler_reference().at("ddpm_steps")) {
    auto seed = e.at("generator_seed").get<uint64_t>();
    auto noise = test::ref_tensor(e.at("noise"));
    auto gen = make_cpu_generator(seed);
    auto drawn = at::randn(noise.sizes(), gen, torch::dtype(torch::kFloat32));
    EXPECT_LT(test::max_abs_diff(drawn, noise), 1e-6) << "seed " << seed;
  }
}

TEST(DdpmStep, LastStepAddsNoNoiseAndOthersRequireIt) {
  DdpmScheduler sched(NoiseSchedule(), 50);
  EXPECT_EQ(sched.timesteps().front(), 980);
  EXPECT_EQ(sched.timesteps().back(), 0);
  EXPECT_EQ(sched.previous_timestep(0), -1);
  auto x = torch::randn({2, 1, 4, 4});
  auto eps = torch::randn({2, 1, 4, 4});
  EXPECT_FALSE(sched.needs_noise(0));
  EXPECT_TRUE(sched.needs_noise(20));
  // At t = 0 the step returns the (clipped) predicted x0.
  auto out = sched.step(eps, 0, x, torch::Tensor());
  EXPECT_LT(test::max_abs_diff(out.prev_sample, out.pred_original_sample), 1e-6);
  EXPECT_THROW(sched.step(eps, 20, x, torch::Tensor()), Error);
  EXPECT_THROW(sched.step(eps, 21, x, torch::randn({2, 1, 4, 4})), Error);  // not in the schedule
  EXPECT_THROW(sched.step(eps.narrow(0, 0, 1), 20, x, torch::randn({2, 1, 4, 4})), Error);
  EXPECT_THROW(sched.step(eps, 20, x, torch::randn({1, 1, 4, 4})), Error);
}

TEST(DdimStep, MatchesDiffusers) {
  int n = 0;
  double worst = 0;
  for (const auto& e : test::scheduler_reference().at("ddim_steps")) {
    SchedulerConfig c;
    c.class_name = "DDIMScheduler";
    c.timestep_spacing = e.at("timestep_spacing").get<std::string>();
    c.set_alpha_to_one = e.at("set_alpha_to_one").get<bool>();
    c.clip_sample = e.at("clip_sample").get<bool>();
    double eta = e.at("eta").get<double>();
    DdimScheduler sched(NoiseSchedule(c), e.at("num_inference_steps").get<int64_t>(), eta);
    int64_t t = e.at("timestep").get<int64_t>();
    SCOPED_TRACE("eta=" + std::to_string(eta) + " " + c.timestep_spacing + " one=" +
                 std::to_string(c.set_alpha_to_one) + " t=" + std::to_string(t));
    auto out = sched.step(test::ref_tensor(e.at("model_output")), t, test::ref_tensor(e.at("sample")),
                          test::ref_tensor(e.at("noise")));
    double d = test::max_abs_diff(out.prev_sample, test::ref_tensor(e.at("prev_sample")));
    worst = std::max(worst, d);
    EXPECT_LT(d, kTol);
    auto ref_x0 = test::ref_tensor(e.at("pred_original_sample"));
    EXPECT_LT(test::max_abs_diff(out.pred_original_sample, ref_x0),
              kTol * std::max(1.0, ref_x0.abs().max().item<double>()));
    ++n;
  }
  EXPECT_EQ(n, 15);
  std::printf("[ ddim step: max |diff| vs diffusers = %.3g over %d cases ]\n", worst, n);
}

TEST(DdimStep, PreviousTimestepIsTMinusTOverSteps) {
  SchedulerConfig c;
  c.timestep_spacing = "trailing";
  DdimScheduler sched(NoiseSchedule(c), 50, 0.0);
  EXPECT_EQ(sched.timesteps().front(), 999);
  EXPECT_EQ(sched.previous_timestep(999), 979);
  EXPECT_EQ(sched.previous_timestep(19), -1);
  EXPECT_FALSE(sched.needs_noise(999));  // eta = 0: deterministic, noise never drawn
  DdimScheduler noisy(NoiseSchedule(c), 50, 0.5);
  EXPECT_TRUE(noisy.needs_noise(999));
  EXPECT_THROW(DdimScheduler(NoiseSchedule(c), 50, -1.0), Error);
  EXPECT_THROW(DdimScheduler(NoiseSchedule(c), 0, 0.0), Error);
}

// eta = 0 ignores the noise; eta > 0 adds std_t * noise, so two noises differ by exactly that.
TEST(DdimStep, EtaScalesTheNoiseTerm) {
  DdimScheduler sched(NoiseSchedule(), 50, 1.0);
  auto x = torch::randn({1, 3, 4, 4}), eps = torch::randn({1, 3, 4, 4});
  auto n1 = torch::randn({1, 3, 4, 4}), n2 = torch::randn({1, 3, 4, 4});
  auto a = sched.step(eps, 500, x, n1).prev_sample;
  auto b = sched.step(eps, 500, x, n2).prev_sample;
  const NoiseSchedule& s = sched.schedule();
  double ab = s.alpha_cumprod(500), abp = s.alpha_cumprod(480);
  double std_t = std::sqrt((1 - abp) / (1 - ab) * (1 - ab / abp));
  EXPECT_LT(test::max_abs_diff(a - b, std_t * (n1 - n2)), 1e-5);
}
