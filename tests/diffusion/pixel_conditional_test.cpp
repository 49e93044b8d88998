// Class-conditional and score-SDE VE sampling of pixel-space UNet2DModels against diffusers
// (tests/reference/diffusion/make_pixel_conditional_reference.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "diffmem/data/generations.h"
#include "diffmem/diffusion/generate.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/diffusion/score_sde_ve.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/checkpoint.h"
#include "diffmem/model/unet2d.h"
#include "test_support.h"

using namespace diffmem;
using namespace diffmem::diffusion;
namespace fs = std::filesystem;

namespace {

fs::path reference_dir() { return fs::path(test::source_dir()) / "tests" / "reference"; }

const std::map<std::string, torch::Tensor>& reference() {
  static const auto ref = [] {
    std::map<std::string, torch::Tensor> out;
    for (const auto& [name, a] :
         io::read_safetensors(reference_dir() / "diffusion" / "pixel_conditional_reference.safetensors").tensors)
      out[name] = io::to_tensor(a);
    return out;
  }();
  return ref;
}

std::vector<uint64_t> seeds_of(const torch::Tensor& t) {
  std::vector<uint64_t> s;
  for (int64_t i = 0; i < t.numel(); ++i) s.push_back(static_cast<uint64_t>(t[i].item<int64_t>()));
  return s;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// Fraction of uint8 values within one level of the reference.
double within_one_level(const torch::Tensor& a, const torch::Tensor& b) {
  auto d = (a.to(torch::kInt32) - b.to(torch::kInt32)).abs();
  return (d <= 1).to(torch::kFloat64).mean().item<double>();
}

model::UNet2DDenoiser variant(const std::string& name) {
  auto net = model::load_unet2d(reference_dir() / "model" / "unet_variants" / name);
  net->eval();
  return model::UNet2DDenoiser(net);
}

SchedulerConfig ve_config() {
  return read_scheduler_config(reference_dir() / "diffusion" / "score_sde_ve" / "scheduler_config.json");
}

}  // namespace

TEST(ScoreSdeVe, TablesMatchDiffusers) {
  const auto& ref = reference();
  const SchedulerConfig c = ve_config();
  EXPECT_EQ(c.num_train_timesteps, 2000);
  EXPECT_DOUBLE_EQ(c.sigma_max, 0.5);
  const auto t = score_sde_ve_tables(c, ref.at("ve_timesteps").numel());
  EXPECT_LT(max_abs_diff(t.timesteps, ref.at("ve_timesteps")), 1e-7);
  EXPECT_LT(max_abs_diff(t.sigmas, ref.at("ve_sigmas")), 1e-7);
  EXPECT_LT(max_abs_diff(t.discrete_sigmas, ref.at("ve_discrete_sigmas")), 1e-7);
}

// Every image equals diffusers' image from a batch of one, whatever batch diffmem draws it in;
// diffusers' own batch of two differs (its corrector averages norms over the batch).
TEST(ScoreSdeVe, PipelineMatchesDiffusersPerImage) {
  const auto& ref = reference();
  auto d = variant("fourier");
  SampleOptions o;
  o.steps = ref.at("ve_timesteps").numel();
  for (int64_t batch : {1, 2}) {
    SCOPED_TRACE(batch);
    o.batch = batch;
    const auto x = sample_score_sde_ve(d, ve_config(), seeds_of(ref.at("ve_seeds")), o);
    EXPECT_LT(max_abs_diff(x, ref.at("ve_mean").clamp(0, 1)), 1e-4);
    EXPECT_GE(within_one_level(unit_to_uint8_nhwc(x), ref.at("ve_images")), 0.999);
  }
  EXPECT_GT(max_abs_diff(ref.at("ve_batch_mean").clamp(0, 1), ref.at("ve_mean").clamp(0, 1)), 1e-3);
  // The reference is not saturated: a good share of values lie strictly inside (0, 1).
  const auto m = ref.at("ve_mean");
  EXPECT_GT(((m > 0) & (m < 1)).to(torch::kFloat32).mean().item<float>(), 0.2f);
}

TEST(ScoreSdeVe, RefusesTheWrongPairings) {
  auto ve = variant("fourier");
  auto plain = variant("non_square");
  SampleOptions o;
  o.steps = 2;
  EXPECT_NE(test::error_of([&] { sample_score_sde_ve(plain, ve_config(), {1}, o); }).find("score-SDE"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { sample(ve, NoiseSchedule(SchedulerConfig()), {1}, o); }).find("ScoreSdeVe"),
            std::string::npos);
  SchedulerConfig bad = ve_config();
  bad.sigma_min = 1.0;  // above sigma_max
  EXPECT_NE(test::error_of([&] { score_sde_ve_tables(bad, 4); }).find("sigma_min"), std::string::npos);
}

// DDPMPipeline's loop with unet(x, t, class_labels=...), one generator per image.
TEST(ClassConditional, SamplingMatchesDiffusers) {
  const auto& ref = reference();
  auto d = variant("class_cond");
  const NoiseSchedule schedule(
      read_scheduler_config(reference_dir() / "model" / "unet_variants" / "class_cond" / "scheduler_config.json"));
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < ref.at("cc_labels").numel(); ++i) labels.push_back(ref.at("cc_labels")[i].item<int64_t>());
  SampleOptions o;
  o.steps = 5;
  for (int64_t batch : {1, 3}) {
    SCOPED_TRACE(batch);
    o.batch = batch;
    const auto x = sample(d, schedule, seeds_of(ref.at("cc_seeds")), o, nullptr, labels);
    EXPECT_LT(max_abs_diff(x, ref.at("cc_x")), 1e-4);
    EXPECT_GE(within_one_level(to_uint8_nhwc(x), ref.at("cc_images")), 0.999);
  }
  EXPECT_NE(test::error_of([&] { sample(d, schedule, {1, 2}, o, nullptr, {1}); }).find("one per image"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { sample(d, schedule, {1}, o); }).find("one per image"), std::string::npos);
}

// generate(): classes-NNNNN.npy beside each shard (image i of class i mod 10, or --class), the
// class count in the manifest, and --class refused for an unconditional model.
TEST(ClassConditional, GenerateWritesTheClassOfEveryImage) {
  auto d = variant("class_cond");
  const NoiseSchedule schedule(SchedulerConfig{});
  test::TempDir tmp;
  const fs::path out = tmp / "all";
  GenerateOptions g;
  g.n = 12;
  g.shard_size = 8;
  g.sample.steps = 2;
  generate(d, schedule, out, g);
  const auto c0 = io::to_tensor(io::read_npy(out / "classes-00000.npy"));
  const auto c1 = io::to_tensor(io::read_npy(out / "classes-00001.npy"));
  EXPECT_TRUE(torch::equal(torch::cat({c0, c1}), torch::arange(12, torch::kLong) % 10));
  EXPECT_EQ(io::read_json(out / "manifest.json").at("num_classes"), 10);

  g.class_label = 4;
  const fs::path out4 = tmp / "four";
  generate(d, schedule, out4, g);
  EXPECT_TRUE((io::to_tensor(io::read_npy(out4 / "classes-00001.npy")) == 4).all().item<bool>());
  g.class_label = 10;
  EXPECT_NE(test::error_of([&] { generate(d, schedule, tmp / "bad", g); })
                .find("--class"),
            std::string::npos);
  auto plain = variant("non_square");
  g.class_label = 1;
  EXPECT_NE(test::error_of([&] { generate(plain, schedule, tmp / "plain", g); })
                .find("unconditional"),
            std::string::npos);
}

// A score-SDE model generates through the VE sampler (recorded as such), only with a VE config.
TEST(ScoreSdeVe, GenerateUsesTheVeSampler) {
  auto d = variant("fourier");
  test::TempDir tmp;
  const fs::path out = tmp / "ve";
  GenerateOptions g;
  g.n = 2;
  g.seed = 3;
  g.sample.steps = reference().at("ve_timesteps").numel();
  generate(d, NoiseSchedule(ve_config()), out, g);
  // Image 0 is seed 3, the reference's first (its second is seed 11).
  const auto images = io::to_tensor(io::read_npy(out / "images-00000.npy"));
  ASSERT_EQ(images.size(0), 2);
  EXPECT_GE(within_one_level(images[0], reference().at("ve_images")[0]), 0.999);
  const io::Json m = io::read_json(out / "manifest.json");
  EXPECT_EQ(m.at("sample").at("sampler"), "score_sde_ve");
  EXPECT_EQ(m.at("schedule").at("_class_name"), "ScoreSdeVeScheduler");
  EXPECT_NE(test::error_of([&] { generate(d, NoiseSchedule(SchedulerConfig{}), tmp / "bad", g); })
                .find("ScoreSdeVeScheduler"),
            std::string::npos);
}
