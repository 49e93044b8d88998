#include "diffmem/model/unet2d.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "diffmem/core/error.h"
#include "diffmem/model/checkpoint.h"
#include "model_test_util.h"

using namespace diffmem;
using diffmem::model::UNet2D;
using diffmem::model::UNet2DConfig;

namespace {

constexpr double kUnetTol = 1e-4;  // max |diffmem − diffusers|

void expect_matches_reference(UNet2D& net, const std::string& io_file) {
  auto ref = test::read_tensors(test::model_reference(io_file));
  net->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor eps = net->forward(ref.at("x"), ref.at("t"));
  ASSERT_EQ(eps.sizes(), ref.at("eps").sizes());
  const double diff = test::max_abs_diff(eps, ref.at("eps"));
  ::testing::Test::RecordProperty("max_abs_diff", std::to_string(diff));
  EXPECT_LT(diff, kUnetTol) << io_file;
  EXPECT_GT(ref.at("eps").std().item<double>(), 0.05);  // the reference is not trivially flat
}

}  // namespace

TEST(UNet2D, MatchesDiffusersSmallAttention) {
  UNet2D net = model::load_unet2d(test::model_reference("small_attn"));
  expect_matches_reference(net, "small_attn_io.safetensors");
}

TEST(UNet2D, MatchesDiffusersLegacyF16Variant) {
  // flip_sin_to_cos, freq_shift 0, padding-1 downsampling, centred input, mid-block scale factor 2,
  // custom time embedding width, separate mid-attention groups, weights in unet/ under legacy
  // names.
  UNet2D net = model::load_unet2d(test::model_reference("legacy_f16"));
  expect_matches_reference(net, "legacy_f16_io.safetensors");
}

// Improved DDPM's layout: out_channels = 2 x in_channels (noise, then the learned variance's
// interpolation), sampled with variance_type learned_range (tests/diffusion/step_variants_test).
TEST(UNet2D, MatchesDiffusersLearnedRangeOutput) {
  UNet2D net = model::load_unet2d(test::model_reference("unet_variants/learned_range"));
  expect_matches_reference(net, "unet_variants/learned_range_io.safetensors");
  EXPECT_EQ(net->config().out_channels, 2 * net->config().in_channels);
}

// resnet_time_scale_shift "scale_shift" (the time embedding scales and shifts norm2; the mid
// block's attention then has no group norm) and ResnetBlock2D resamplers (downsample_type /
// upsample_type "resnet"), each against diffusers, with the parameter count the config predicts.
TEST(UNet2D, MatchesDiffusersScaleShiftAndResnetResampling) {
  for (const std::string name : {"scale_shift", "resnet_resample"}) {
    SCOPED_TRACE(name);
    const auto dir = test::model_reference("unet_variants/" + name);
    UNet2D net = model::load_unet2d(dir);
    expect_matches_reference(net, "unet_variants/" + name + "_io.safetensors");
    EXPECT_EQ(net->parameter_count(), net->config().parameter_count());
  }
}

// sample_size [8, 16]: a non-square model (the sampler's side: tests/diffusion/sampler_test).
TEST(UNet2D, MatchesDiffusersNonSquare) {
  UNet2D net = model::load_unet2d(test::model_reference("unet_variants/non_square"));
  expect_matches_reference(net, "unet_variants/non_square_io.safetensors");
  model::UNet2DDenoiser d(net);
  EXPECT_EQ(d.sample_size(), 8);
  EXPECT_EQ(d.sample_width(), 16);
  EXPECT_NE(d.describe().find("8x16x3"), std::string::npos) << d.describe();
}

// num_class_embeds: a class-embedding row added to the time embedding. The labels are required
// (and refused by an unconditional model), and they change the output.
TEST(UNet2D, MatchesDiffusersClassConditional) {
  UNet2D net = model::load_unet2d(test::model_reference("unet_variants/class_cond"));
  auto ref = test::read_tensors(test::model_reference("unet_variants/class_cond_io.safetensors"));
  net->eval();
  torch::NoGradGuard no_grad;
  const auto eps = net->forward(ref.at("x"), ref.at("t"), ref.at("class_labels"));
  EXPECT_LT(test::max_abs_diff(eps, ref.at("eps")), kUnetTol);
  EXPECT_EQ(net->parameter_count(), net->config().parameter_count());
  const auto other = net->forward(ref.at("x"), ref.at("t"), ref.at("class_labels").flip(0));
  EXPECT_GT(test::max_abs_diff(other, ref.at("eps")), 1e-2);
  model::UNet2DDenoiser d(net);
  EXPECT_EQ(d.num_classes(), 10);
  EXPECT_NE(d.describe().find("10 classes"), std::string::npos) << d.describe();
  EXPECT_NE(test::error_of([&] { d.predict_noise(ref.at("x"), ref.at("t")); }).find("class_labels"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { net->forward(ref.at("x"), ref.at("t"), torch::tensor({0, 10, 3})); })
                .find("[0, 10)"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { model::require_unconditional(d, "mia"); }).find("class-conditional"),
            std::string::npos);
  UNet2D plain = model::load_unet2d(test::model_reference("unet_variants/non_square"));
  EXPECT_NE(test::error_of([&] {
              plain->forward(torch::zeros({1, 3, 8, 16}), torch::tensor({3}), torch::tensor({1}));
            }).find("unconditional"),
            std::string::npos);
}

// time_embedding_type "fourier" (score-SDE models): a Gaussian Fourier projection of log(sigma),
// the output divided by sigma; sigma must be positive.
TEST(UNet2D, MatchesDiffusersFourierTimeEmbedding) {
  UNet2D net = model::load_unet2d(test::model_reference("unet_variants/fourier"));
  expect_matches_reference(net, "unet_variants/fourier_io.safetensors");
  EXPECT_EQ(net->parameter_count(), net->config().parameter_count());
  auto ref = test::read_tensors(test::model_reference("unet_variants/fourier_io.safetensors"));
  EXPECT_NE(test::error_of([&] { net->forward(ref.at("x"), torch::tensor({1.0f, 0.0f, 2.0f})); })
                .find("sigma > 0"),
            std::string::npos);
  model::UNet2DDenoiser d(net);
  EXPECT_TRUE(d.takes_sigma());
  EXPECT_NE(test::error_of([&] { model::require_unconditional(d, "inpaint"); }).find("score-SDE"),
            std::string::npos);
}

TEST(UNet2D, TimestepEmbeddingMatchesDiffusers) {
  for (const std::string name : {"small_attn", "legacy_f16"}) {
    const std::string dir = name == "legacy_f16" ? "legacy_f16/unet" : name;
    UNet2DConfig c = model::read_unet2d_config(test::model_reference(dir) / "config.json");
    auto ref = test::read_tensors(test::model_reference(name + "_io.safetensors"));
    auto emb = model::timestep_embedding(ref.at("t"), c.block_out_channels[0], c.flip_sin_to_cos,
                                         c.freq_shift);
    EXPECT_LT(test::max_abs_diff(emb, ref.at("temb")), 1e-6) << name;
  }
  // Odd widths are zero-padded; flip swaps the halves.
  auto t = torch::tensor({3, 70}, torch::kInt64);
  auto odd = model::timestep_embedding(t, 7, false, 1);
  ASSERT_EQ(odd.sizes(), (std::vector<int64_t>{2, 7}));
  EXPECT_EQ(odd.select(1, 6).abs().max().item<float>(), 0.0f);
  auto plain = model::timestep_embedding(t, 8, false, 0),
       flipped = model::timestep_embedding(t, 8, true, 0);
  EXPECT_EQ(test::max_abs_diff(plain.slice(1, 0, 4), flipped.slice(1, 4, 8)), 0.0);
  EXPECT_NEAR(plain[1][0].item<double>(), std::sin(70.0), 1e-5);  // first frequency is 1
  EXPECT_NEAR(plain[1][4].item<double>(), std::cos(70.0), 1e-5);
}

TEST(UNet2D, DdpmCifar10MatchesDiffusersWithFormulaWeights) {
  UNet2D net(UNet2DConfig::preset("ddpm-cifar10"));
  EXPECT_EQ(net->parameter_count(), 35746307);
  test::formula_fill(net->named_parameters());
  expect_matches_reference(net, "ddpm_cifar10_io.safetensors");
}

TEST(UNet2D, DdpmCifar10NamesAndShapesEqualDiffusers) {
  UNet2D net(UNet2DConfig::preset("ddpm-cifar10"));
  std::set<std::string> ours;
  int64_t total = 0;
  for (const auto& p : net->named_parameters()) {
    std::ostringstream line;
    line << p.key() << " [";
    for (int64_t d = 0; d < p.value().dim(); ++d) line << (d ? ", " : "") << p.value().size(d);
    line << "]";
    ours.insert(line.str());
    total += p.value().numel();
  }
  std::ifstream in(test::model_reference("ddpm_cifar10_params.txt"));
  ASSERT_TRUE(in);
  std::set<std::string> theirs;
  std::string line, summary;
  while (std::getline(in, line)) {
    if (line.rfind("tensors:", 0) == 0)
      summary = line;
    else
      theirs.insert(line);
  }
  EXPECT_EQ(theirs.size(), 328u);
  EXPECT_EQ(ours, theirs);
  EXPECT_EQ(summary, "tensors: 328 params: 35746307");
  EXPECT_EQ(total, 35746307);
}

TEST(UNet2D, ScalarAndSingleTimestepBroadcast) {
  UNet2D net = model::load_unet2d(test::model_reference("small_attn"));
  net->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 16, 16});
  auto both = net->forward(x, torch::tensor({37, 37}, torch::kInt64));
  EXPECT_LT(test::max_abs_diff(net->forward(x, torch::tensor(37, torch::kInt64)), both), 1e-6);
  EXPECT_LT(test::max_abs_diff(net->forward(x, torch::tensor({37}, torch::kInt64)), both), 1e-6);
  EXPECT_LT(test::max_abs_diff(net->forward(x, torch::tensor({37.0, 37.0})), both), 1e-6);
  // Batch elements are independent: the second image alone gives the same result.
  auto second = net->forward(x.slice(0, 1, 2), torch::tensor({37}, torch::kInt64));
  EXPECT_LT(test::max_abs_diff(second, both.slice(0, 1, 2)), 1e-5);
}

TEST(UNet2D, BadInputsAreErrors) {
  UNet2D net(UNet2DConfig::preset("tiny"));
  auto t = torch::zeros({2}, torch::kInt64);
  EXPECT_THROW(net->forward(torch::zeros({2, 3, 28, 28}), t), Error);  // wrong channels
  EXPECT_THROW(net->forward(torch::zeros({2, 1, 27, 27}), t), Error);  // odd size
  EXPECT_THROW(net->forward(torch::zeros({1, 28, 28}), t), Error);     // not 4-D
  EXPECT_THROW(net->forward(torch::zeros({2, 1, 28, 28}), torch::zeros({3}, torch::kInt64)), Error);
}

TEST(UNet2D, CloneIsDeepAndEqual) {
  UNet2D net(UNet2DConfig::preset("tiny"));
  auto copy = std::dynamic_pointer_cast<model::UNet2DImpl>(net->clone());
  ASSERT_TRUE(copy);
  net->eval();
  copy->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 1, 28, 28});
  auto t = torch::tensor({3, 900}, torch::kInt64);
  auto before = net->forward(x, t);
  EXPECT_EQ(test::max_abs_diff(copy->forward(x, t), before), 0.0);
  for (auto& p : net->parameters()) p.add_(0.01);
  EXPECT_EQ(test::max_abs_diff(copy->forward(x, t), before), 0.0);
  EXPECT_GT(test::max_abs_diff(net->forward(x, t), before), 1e-4);
  EXPECT_EQ(copy->named_parameters().size(), net->named_parameters().size());
}

TEST(UNet2D, TrainsThroughEveryParameter) {
  UNet2DConfig c = UNet2DConfig::preset("tiny");
  UNet2D net(c);
  net->train();
  auto x = torch::randn({2, 1, 28, 28});
  auto loss = net->forward(x, torch::tensor({10, 500}, torch::kInt64)).pow(2).mean();
  loss.backward();
  for (const auto& p : net->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(UNet2D, DropoutOnlyInTraining) {
  UNet2DConfig c = UNet2DConfig::preset("tiny");
  c.dropout = 0.5;
  UNet2D net(c);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({1, 1, 28, 28});
  auto t = torch::tensor({100}, torch::kInt64);
  net->eval();
  EXPECT_EQ(test::max_abs_diff(net->forward(x, t), net->forward(x, t)), 0.0);
  net->train();
  EXPECT_GT(test::max_abs_diff(net->forward(x, t), net->forward(x, t)), 1e-6);
}

TEST(UNet2D, DenoiserAdapter) {
  model::UNet2DDenoiser d(UNet2D(UNet2DConfig::preset("tiny")));
  EXPECT_EQ(d.in_channels(), 1);
  EXPECT_EQ(d.sample_size(), 28);
  EXPECT_EQ(d.device(), torch::Device(torch::kCPU));
  EXPECT_EQ(d.describe(), "UNet2D 0.12M params, 28x28x1");
  torch::NoGradGuard no_grad;
  d.unet()->eval();
  auto x = torch::randn({2, 1, 28, 28});
  auto t = torch::tensor({1, 2}, torch::kInt64);
  EXPECT_EQ(test::max_abs_diff(d.predict_noise(x, t), d.unet()->forward(x, t)), 0.0);
}

TEST(UNet2D, CudaMatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  UNet2D net = model::load_unet2d(test::model_reference("small_attn"));
  net->eval();
  auto ref = test::read_tensors(test::model_reference("small_attn_io.safetensors"));
  net->to(torch::kCUDA);
  EXPECT_TRUE(net->device().is_cuda());
  torch::NoGradGuard no_grad;
  // t stays on the CPU: forward moves it to x's device.
  auto eps = net->forward(ref.at("x").to(torch::kCUDA), ref.at("t")).cpu();
  EXPECT_LT(test::max_abs_diff(eps, ref.at("eps")),
            1e-3);  // TF32 / cuDNN algorithms differ slightly
}
