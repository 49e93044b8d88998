// SdPipeline::probe against diffusers' pipeline (tests/reference/diffusion/make_sd_probe_reference.py):
// the guidance direction's norm over the first steps, and the low-noise alignment, for an
// epsilon (PNDM) and a v-prediction (DDIM) tiny pipeline.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "diffmem/diffusion/sd_pipeline.h"
#include "diffmem/io/json.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

fs::path probe_reference_dir() { return fs::path(test::source_dir()) / "tests" / "reference"; }

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  const auto x = a.to(torch::kFloat64), y = b.to(torch::kFloat64);
  return ((x - y).abs() / y.abs().clamp_min(1e-3)).max().item<double>();
}

class SdProbeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SdProbeTest, MatchesDiffusers) {
  const std::string name = GetParam();
  const io::Safetensors file = io::read_safetensors(probe_reference_dir() / "diffusion" / "sd_probe_reference.safetensors");
  const auto prompts = io::Json::parse(file.metadata.at("prompts")).get<std::vector<std::string>>();
  const auto pipe = diffusion::SdPipeline::load(probe_reference_dir() / "model" / name);
  diffusion::SdPipelineOptions o;
  o.steps = 10;
  o.height = o.width = 32;
  diffusion::SdProbeOptions po;
  po.first_steps = 3;
  po.low_from_end = 3;
  for (int64_t batch : {1, 2}) {
    SCOPED_TRACE(batch);
    o.batch = batch;
    const auto probe = pipe.probe(prompts, {5, 9}, o, po);
    const auto norms = io::to_tensor(file.tensors.at(name + "_first_norms"));
    const auto cosine = io::to_tensor(file.tensors.at(name + "_low_cosine"));
    ASSERT_EQ(probe.first_norms.sizes(), norms.sizes());
    EXPECT_LT(max_rel_diff(probe.first_norms, norms), 1e-4) << probe.first_norms << norms;
    EXPECT_LT((probe.low_cosine - cosine).abs().max().item<double>(), 1e-4) << probe.low_cosine << cosine;
    // 3 trajectory steps + 1 low-noise pass, each a guided call: 2 latents per generation.
    EXPECT_EQ(probe.unet_images, 2 * 2 * 4);
  }
}

INSTANTIATE_TEST_SUITE_P(TinyPipelines, SdProbeTest, ::testing::Values("sd_tiny_v1", "sd_tiny_v2"));

// The screen's probe on the GPU: diffusers' numbers up to the GPU kernels' rounding (TF32).
TEST(SdProbe, GpuMatchesDiffusers_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const io::Safetensors file = io::read_safetensors(probe_reference_dir() / "diffusion" / "sd_probe_reference.safetensors");
  const auto prompts = io::Json::parse(file.metadata.at("prompts")).get<std::vector<std::string>>();
  const auto pipe = diffusion::SdPipeline::load(probe_reference_dir() / "model" / "sd_tiny_v1", torch::Device(torch::kCUDA, 0));
  diffusion::SdPipelineOptions o;
  o.steps = 10;
  o.height = o.width = 32;
  o.batch = 2;
  diffusion::SdProbeOptions po;
  po.first_steps = 3;
  po.low_from_end = 3;
  const auto probe = pipe.probe(prompts, {5, 9}, o, po);
  EXPECT_LT(max_rel_diff(probe.first_norms.cpu(), io::to_tensor(file.tensors.at("sd_tiny_v1_first_norms"))), 1e-2);
  EXPECT_LT((probe.low_cosine.cpu() - io::to_tensor(file.tensors.at("sd_tiny_v1_low_cosine"))).abs().max().item<double>(), 1e-2);
}

TEST(SdProbe, RefusesWhatItCannotMeasure) {
  const auto pipe = diffusion::SdPipeline::load(probe_reference_dir() / "model" / "sd_tiny_v1");
  diffusion::SdPipelineOptions o;
  o.steps = 4;
  diffusion::SdProbeOptions po;
  o.guidance_scale = 1.0;
  EXPECT_NE(test::error_of([&] { pipe.probe({"a"}, {1}, o, po); }).find("guidance_scale"), std::string::npos);
  o.guidance_scale = 7.5;
  po.first_steps = 5;
  EXPECT_NE(test::error_of([&] { pipe.probe({"a"}, {1}, o, po); }).find("first_steps"), std::string::npos);
  po.first_steps = 1;
  po.low_from_end = 0;
  const auto probe = pipe.probe({"a"}, {1}, o, po);
  EXPECT_TRUE(std::isnan(probe.low_cosine[0].item<double>()));
  EXPECT_EQ(probe.unet_images, 2);
}

}  // namespace
