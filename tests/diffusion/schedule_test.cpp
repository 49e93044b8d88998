#include "diffmem/diffusion/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

#include "diffmem/core/error.h"
#include "diffusion_test_util.h"

using namespace diffmem;
using namespace diffmem::diffusion;

namespace {

SchedulerConfig config_for(const io::Json& entry) {
  SchedulerConfig c;
  c.beta_schedule = entry.at("beta_schedule").get<std::string>();
  c.beta_start = entry.at("beta_start").get<double>();
  c.beta_end = entry.at("beta_end").get<double>();
  c.num_train_timesteps = entry.at("num_train_timesteps").get<int64_t>();
  return c;
}

}  // namespace

// float32 betas and alpha-bar as PyTorch 2.x and diffusers compute them: bit for bit.
TEST(NoiseSchedule, BetasAndAlphasCumprodMatchDiffusers) {
  for (const auto& entry : test::scheduler_reference().at("schedules")) {
    SCOPED_TRACE(entry.at("beta_schedule").get<std::string>() + " T=" +
                 std::to_string(entry.at("num_train_timesteps").get<int64_t>()));
    NoiseSchedule s(config_for(entry));
    auto idx = entry.at("indices").get<std::vector<int64_t>>();
    auto betas = entry.at("betas").get<std::vector<double>>();
    auto acp = entry.at("alphas_cumprod").get<std::vector<double>>();
    ASSERT_EQ(s.betas().size(0), entry.at("num_train_timesteps").get<int64_t>());
    ASSERT_EQ(s.betas().scalar_type(), torch::kFloat32);
    for (size_t k = 0; k < idx.size(); ++k) {
      float b = s.betas()[idx[k]].item<float>();
      float a = s.alpha_cumprod(idx[k]);
      EXPECT_EQ(b, static_cast<float>(betas[k])) << "t=" << idx[k];
      EXPECT_EQ(a, static_cast<float>(acp[k])) << "t=" << idx[k];
      EXPECT_EQ(a, s.alphas_cumprod()[idx[k]].item<float>());
    }
    EXPECT_NEAR(s.betas().to(torch::kFloat64).sum().item<double>(),
                entry.at("betas_sum").get<double>(), 1e-6);
    EXPECT_NEAR(s.alphas_cumprod().to(torch::kFloat64).sum().item<double>(),
                entry.at("alphas_cumprod_sum").get<double>(), 1e-4);
    EXPECT_TRUE(torch::allclose(s.alphas(), 1 - s.betas()));
  }
}

TEST(NoiseSchedule, CosineBetasAreCappedAndFollowTheFormula) {
  SchedulerConfig c;
  c.beta_schedule = "squaredcos_cap_v2";
  NoiseSchedule s(c);
  auto f = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2.0); };
  EXPECT_NEAR(s.betas()[500].item<float>(), 1 - f(501 / 1000.0) / f(500 / 1000.0), 1e-8);
  EXPECT_FLOAT_EQ(s.betas()[999].item<float>(), 0.999f);  // the cap
  EXPECT_LE(s.betas().max().item<float>(), 0.999f);
}

TEST(InferenceTimesteps, MatchDiffusersSetTimesteps) {
  int checked = 0;
  for (const auto& entry : test::scheduler_reference().at("timesteps")) {
    SchedulerConfig c;
    c.timestep_spacing = entry.at("timestep_spacing").get<std::string>();
    c.steps_offset = entry.at("steps_offset").get<int64_t>();
    int64_t steps = entry.at("steps").get<int64_t>();
    auto expected = entry.at("timesteps").get<std::vector<int64_t>>();
    EXPECT_EQ(inference_timesteps(c, steps), expected)
        << entry.at("scheduler").get<std::string>() << " " << c.timestep_spacing << " steps=" << steps
        << " offset=" << c.steps_offset;
    ++checked;
  }
  EXPECT_EQ(checked, 24);
}

TEST(InferenceTimesteps, EveryStepCountGivesDescendingInRangeTimesteps) {
  for (std::string spacing : {"leading", "trailing", "linspace"}) {
    SchedulerConfig c;
    c.timestep_spacing = spacing;
    for (int64_t steps = 1; steps <= 1000; steps += (steps < 64 ? 1 : 37)) {
      auto ts = inference_timesteps(c, steps);
      ASSERT_EQ(static_cast<int64_t>(ts.size()), steps) << spacing << " " << steps;
      for (size_t i = 0; i < ts.size(); ++i) {
        ASSERT_GE(ts[i], 0) << spacing << " " << steps;
        ASSERT_LT(ts[i], 1000) << spacing << " " << steps;
        if (i) {
          ASSERT_LT(ts[i], ts[i - 1]) << spacing << " " << steps;
        }
      }
    }
  }
  // diffusers' trailing spacing yields [..., 32, 15, -1] for 61 steps; the spurious -1 is dropped.
  SchedulerConfig trailing;
  trailing.timestep_spacing = "trailing";
  auto ts61 = inference_timesteps(trailing, 61);
  ASSERT_EQ(ts61.size(), 61u);
  EXPECT_EQ(ts61[0], 999);
  EXPECT_EQ(ts61[59], 32);
  EXPECT_EQ(ts61[60], 15);
  SchedulerConfig c;
  EXPECT_NE(test::error_of([&] { inference_timesteps(c, 0); }).find("inference steps"),
            std::string::npos);
  EXPECT_THROW(inference_timesteps(c, 1001), Error);
}

TEST(AddNoise, IsSqrtAlphaBarX0PlusSqrtOneMinusAlphaBarEps) {
  NoiseSchedule s;
  auto x0 = torch::rand({4, 3, 5, 5}) * 2 - 1;
  auto eps = torch::randn({4, 3, 5, 5});
  auto t = torch::tensor({0, 1, 500, 999}, torch::kLong);
  auto xt = add_noise(s, x0, eps, t);
  ASSERT_EQ(xt.sizes(), x0.sizes());
  for (int64_t i = 0; i < 4; ++i) {
    double ab = s.alpha_cumprod(t[i].item<int64_t>());
    auto expected = std::sqrt(ab) * x0[i].to(torch::kFloat64) + std::sqrt(1 - ab) * eps[i].to(torch::kFloat64);
    EXPECT_LT(test::max_abs_diff(xt[i], expected), 1e-6) << "t=" << t[i].item<int64_t>();
  }
  // t = 0 keeps almost all the signal; t = 999 almost none.
  EXPECT_LT(test::max_abs_diff(xt[0], x0[0]), 0.05);
  EXPECT_LT(test::max_abs_diff(xt[3], eps[3]), 0.02);
  EXPECT_THROW(add_noise(s, x0, eps, torch::tensor({0, 1, 2, 1000}, torch::kLong)), Error);
  EXPECT_THROW(add_noise(s, x0, eps, torch::tensor({0, 1}, torch::kLong)), Error);
  EXPECT_THROW(add_noise(s, x0, eps.narrow(1, 0, 2), t), Error);
}

TEST(SchedulerConfigJson, RoundTripsThroughAFile) {
  test::TempDir dir;
  for (std::string cls : {"DDPMScheduler", "DDIMScheduler"}) {
    SchedulerConfig c;
    c.class_name = cls;
    c.num_train_timesteps = 500;
    c.beta_start = 0.00085;
    c.beta_end = 0.012;
    c.beta_schedule = "scaled_linear";
    c.variance_type = cls == "DDPMScheduler" ? "fixed_large" : "fixed_small";
    c.clip_sample = false;
    c.clip_sample_range = 2.5;
    c.timestep_spacing = "trailing";
    c.steps_offset = 1;
    c.set_alpha_to_one = cls == "DDPMScheduler";  // DDPM files do not carry it: the default stays
    auto path = dir / (cls + ".json");
    write_scheduler_config(path, c);
    auto j = io::read_json(path);
    EXPECT_EQ(j.contains("variance_type"), cls == "DDPMScheduler");
    EXPECT_EQ(j.contains("set_alpha_to_one"), cls == "DDIMScheduler");
    EXPECT_TRUE(j.at("trained_betas").is_null());
    SchedulerConfig r = read_scheduler_config(path);
    EXPECT_EQ(r.class_name, c.class_name);
    EXPECT_EQ(r.num_train_timesteps, 500);
    EXPECT_EQ(r.beta_start, c.beta_start);
    EXPECT_EQ(r.beta_end, c.beta_end);
    EXPECT_EQ(r.beta_schedule, c.beta_schedule);
    EXPECT_EQ(r.variance_type, c.variance_type);
    EXPECT_EQ(r.clip_sample, false);
    EXPECT_EQ(r.clip_sample_range, 2.5);
    EXPECT_EQ(r.timestep_spacing, "trailing");
    EXPECT_EQ(r.steps_offset, 1);
    EXPECT_EQ(r.set_alpha_to_one, c.set_alpha_to_one);
  }
}

TEST(SchedulerConfigJson, ReadsFilesDiffusersWrote) {
  auto dir = test::source_dir() + "/tests/reference/diffusion/";
  auto ddpm = read_scheduler_config(dir + "ddpm_scheduler_config.json");
  EXPECT_EQ(ddpm.class_name, "DDPMScheduler");
  EXPECT_EQ(ddpm.variance_type, "fixed_large");
  EXPECT_EQ(ddpm.beta_schedule, "linear");
  EXPECT_EQ(ddpm.num_train_timesteps, 1000);
  EXPECT_TRUE(ddpm.clip_sample);
  auto ddim = read_scheduler_config(dir + "ddim_scheduler_config.json");
  EXPECT_EQ(ddim.class_name, "DDIMScheduler");
  EXPECT_EQ(ddim.beta_schedule, "scaled_linear");
  EXPECT_DOUBLE_EQ(ddim.beta_start, 0.00085);
  EXPECT_FALSE(ddim.clip_sample);
  EXPECT_FALSE(ddim.set_alpha_to_one);
  EXPECT_EQ(ddim.steps_offset, 1);
  EXPECT_EQ(ddim.timestep_spacing, "trailing");
  EXPECT_EQ(ddim.variance_type, "fixed_small");  // absent from DDIM files: the default
}

TEST(SchedulerConfigJson, IgnoresUnknownKeysAndKeepsDefaultsForMissingOnes) {
  auto c = scheduler_config_from_json(
      io::Json::parse(R"({"_diffusers_version": "0.1.1", "tensor_format": "pt", "beta_end": 0.03})"),
      "x.json");
  EXPECT_DOUBLE_EQ(c.beta_end, 0.03);
  EXPECT_EQ(c.num_train_timesteps, 1000);
  EXPECT_EQ(c.variance_type, "fixed_small");
}

TEST(SchedulerConfigJson, BadFilesNameTheFileAndTheKey) {
  test::TempDir dir;
  auto path = dir / "scheduler_config.json";
  const std::string p = path.string();
  // Missing and malformed files name the file.
  EXPECT_NE(test::error_of([&] { read_scheduler_config(path); }).find(p), std::string::npos);
  test::write_bytes(path, "{\"beta_start\": 0.0001, ");
  EXPECT_NE(test::error_of([&] { read_scheduler_config(path); }).find(p), std::string::npos);
  test::write_bytes(path, "[1, 2]");
  EXPECT_NE(test::error_of([&] { read_scheduler_config(path); }).find(p), std::string::npos);

  struct Case {
    const char* json;
    const char* key;
  } cases[] = {
      {R"({"beta_start": "0.0001"})", "beta_start"},
      {R"({"beta_end": 1.5})", "beta_end"},
      {R"({"num_train_timesteps": 0})", "num_train_timesteps"},
      {R"({"num_train_timesteps": 2.5})", "num_train_timesteps"},
      {R"({"beta_schedule": "sigmoid"})", "beta_schedule"},
      {R"({"variance_type": "fixed_small_log"})", "variance_type"},
      {R"({"prediction_type": "flow"})", "prediction_type"},
      {R"({"timestep_spacing": "karras"})", "timestep_spacing"},
      {R"({"clip_sample": "yes"})", "clip_sample"},
      {R"({"clip_sample_range": 0})", "clip_sample_range"},
      {R"({"steps_offset": -1})", "steps_offset"},
      {R"({"set_alpha_to_one": 1})", "set_alpha_to_one"},
      {R"({"trained_betas": [0.1, 0.2]})", "trained_betas"},
      {R"({"thresholding": "on"})", "thresholding"},
      {R"({"thresholding": true, "dynamic_thresholding_ratio": 1.5})", "dynamic_thresholding_ratio"},
      {R"({"thresholding": true, "sample_max_value": 0.5})", "sample_max_value"},
      {R"({"rescale_betas_zero_snr": 1})", "rescale_betas_zero_snr"},
      {R"({"_class_name": 3})", "_class_name"},
  };
  for (const auto& c : cases) {
    test::write_bytes(path, c.json);
    std::string msg = test::error_of([&] { read_scheduler_config(path); });
    EXPECT_NE(msg.find(p + ": " + c.key), std::string::npos) << c.json << " → " << msg;
  }
}
