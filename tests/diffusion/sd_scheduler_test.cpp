// Stable Diffusion's schedulers step by step against diffusers 0.42.1
// (tests/reference/model/make_scheduler_reference.py): timesteps, init_noise_sigma, scaled model
// inputs and every step's sample, with the trace's stand-in model m = 0.3 x_in + 0.1 sin(t/100).
#include "diffmem/diffusion/sd_scheduler.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/diffusion/noise.h"
#include "test_support.h"

namespace diffmem::diffusion {
namespace {
namespace fs = std::filesystem;

fs::path sd_scheduler_reference(const std::string& name) {
  return fs::path(test::source_dir()) / "tests" / "reference" / "model" / name;
}

double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

class SdSchedulerReference : public ::testing::TestWithParam<std::string> {};

TEST_P(SdSchedulerReference, StepsAsDiffusers) {
  const std::string name = GetParam();
  const io::Json configs = io::read_json(sd_scheduler_reference("schedulers_configs.json"));
  const SchedulerConfig c = scheduler_config_from_json(configs.at(name), "schedulers_configs.json: " + name);
  std::map<std::string, torch::Tensor> ref;
  for (const auto& [k, a] : io::read_safetensors(sd_scheduler_reference("schedulers_io.safetensors")).tensors)
    ref[k] = io::to_tensor(a);
  auto s = make_sd_scheduler(c, 10);
  const torch::Tensor ts = ref.at(name + ".timesteps").to(torch::kFloat64);
  ASSERT_EQ(static_cast<int64_t>(s->timesteps().size()), ts.numel());
  for (int64_t i = 0; i < ts.numel(); ++i) EXPECT_EQ(s->timesteps()[i], ts[i].item<double>()) << i;
  EXPECT_NEAR(s->init_noise_sigma(), ref.at(name + ".init_noise_sigma").item<double>(), 1e-6);

  at::Generator g = make_cpu_generator(0);
  auto noise = [&](at::IntArrayRef shape) { return torch::randn(shape, g); };
  torch::Tensor x = ref.at("noise") * s->init_noise_sigma();
  EXPECT_LT(max_abs(x, ref.at(name + ".sample0")), 1e-6);
  for (int64_t i = 0; i < ts.numel(); ++i) {
    const torch::Tensor in = s->scale_model_input(x, static_cast<size_t>(i));
    EXPECT_LT(max_abs(in, ref.at(name + ".scaled")[i]), 1e-4) << "step " << i;
    const torch::Tensor m = in * 0.3 + 0.1 * std::sin(s->timesteps()[i] / 100);
    x = s->step(m, static_cast<size_t>(i), x, noise);
    ASSERT_LT(max_abs(x, ref.at(name + ".prev_sample")[i]), 1e-4) << name << " step " << i;
  }
  EXPECT_GT(max_abs(x, ref.at(name + ".sample0")), 0.1) << "the trace moved";
}

INSTANTIATE_TEST_SUITE_P(Diffusers, SdSchedulerReference,
                         ::testing::Values("pndm", "ddim", "ddim_v", "euler", "euler_v", "euler_a", "dpmpp_2m",
                                           "dpmpp_2m_karras"));

TEST(SdScheduler, RefusesWhatItDoesNotRun) {
  SchedulerConfig c;
  c.class_name = "PNDMScheduler";
  EXPECT_NE(test::error_of([&] { make_sd_scheduler(c, 10); }).find("skip_prk_steps"), std::string::npos);
  c.class_name = "LMSDiscreteScheduler";
  EXPECT_NE(test::error_of([&] { make_sd_scheduler(c, 10); }).find("'LMSDiscreteScheduler'"),
            std::string::npos);
  c.class_name = "EulerDiscreteScheduler";
  EXPECT_NE(test::error_of([&] { make_sd_scheduler(c, 0); }).find("steps"), std::string::npos);
  c.use_karras_sigmas = true;
  EXPECT_NE(test::error_of([&] { make_sd_scheduler(c, 10); }).find("use_karras_sigmas"), std::string::npos);
  io::Json dpm = {{"_class_name", "DPMSolverMultistepScheduler"}, {"algorithm_type", "sde-dpmsolver++"}};
  EXPECT_NE(test::error_of([&] { scheduler_config_from_json(dpm, "d.json"); }).find("d.json: algorithm_type"),
            std::string::npos);
  dpm = {{"_class_name", "DPMSolverMultistepScheduler"}, {"solver_order", 3}};
  EXPECT_NE(test::error_of([&] { scheduler_config_from_json(dpm, "d.json"); }).find("d.json: solver_order"),
            std::string::npos);
  dpm = {{"_class_name", "DPMSolverMultistepScheduler"}, {"lambda_min_clipped", -5.1}};
  EXPECT_NE(test::error_of([&] { scheduler_config_from_json(dpm, "d.json"); }).find("lambda_min_clipped"),
            std::string::npos);
  dpm = {{"_class_name", "DPMSolverMultistepScheduler"}, {"use_lu_lambdas", true}};
  EXPECT_NE(test::error_of([&] { scheduler_config_from_json(dpm, "d.json"); }).find("use_lu_lambdas"),
            std::string::npos);
}

}  // namespace
}  // namespace diffmem::diffusion
