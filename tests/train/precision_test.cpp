// Mixed precision: the autocast guard (core/precision.h), fp16 loss scaling (train/loss_scaler.h)
// and --precision in training. bf16 runs on the CPU, so most of it is checked here; fp16 needs
// CUDA (the _CUDA test).
#include "diffmem/train/loss_scaler.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "diffmem/core/error.h"
#include "diffmem/core/precision.h"
#include "diffmem/core/rng.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/train/trainer.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

data::Dataset precision_dataset() {
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {8, 8, 8, 1});
  core::Rng rng(3);
  for (auto& b : ds.images.bytes) b = static_cast<uint8_t>(rng.below(256));
  for (int64_t i = 0; i < 8; ++i) {
    ds.labels.push_back(-1);
    ds.ids.push_back(i);
  }
  return ds;
}

train::TrainOptions precision_options(const std::string& precision) {
  train::TrainOptions o;
  o.preset = "tiny";
  o.steps = 4;
  o.batch = 4;
  o.warmup_steps = 1;
  o.seed = 2;
  o.num_train_timesteps = 100;
  o.precision = precision;
  return o;
}

// A parameter with a gradient, as after backward().
train::NamedTensors one_param(const torch::Tensor& grad) {
  torch::Tensor p = torch::zeros_like(grad).requires_grad_(true);
  p.mutable_grad() = grad.clone();
  return {{"w", p}};
}

}  // namespace

TEST(Autocast, Bf16OnTheCpuOnlyInsideTheGuardAndNested) {
  const torch::Tensor a = torch::randn({8, 8}), b = torch::randn({8, 8});
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
  {
    const core::AutocastGuard outer("bf16", "cpu");
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      const core::AutocastGuard inner("fp32", "cpu");  // fp32 leaves the state alone
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    }
    {
      const core::AutocastGuard inner("bf16", "cpu");
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);  // the inner guard restored it
  }
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
}

TEST(Autocast, RefusesUnknownPrecisionsAndFp16OffCuda) {
  EXPECT_NO_THROW(core::check_precision("bf16", "cpu", "--precision"));
  EXPECT_NO_THROW(core::check_precision("fp16", "cuda:1", "--precision"));
  try {
    core::check_precision("fp16", "cpu", "--precision");
    FAIL() << "fp16 on the CPU accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--precision"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
  EXPECT_THROW(core::check_precision("half", "cuda", "--precision"), Error);
  EXPECT_THROW(core::AutocastGuard("int8", "cpu"), Error);
}

TEST(LossScaler, OffIsTheIdentity) {
  train::LossScaler s(false);
  const torch::Tensor loss = torch::tensor(2.5);
  EXPECT_EQ(s.scaled(loss).item<double>(), 2.5);
  auto params = one_param(torch::full({3}, std::numeric_limits<float>::infinity()));
  EXPECT_TRUE(s.unscale_and_update(params));  // off: nothing is checked or changed
  EXPECT_TRUE(s.metadata().empty());
}

TEST(LossScaler, UnscalesSkipsOverflowsAndGrows) {
  train::LossScaler s(true, 1024.0, 3);
  EXPECT_EQ(s.scaled(torch::tensor(2.0)).item<double>(), 2048.0);
  auto good = one_param(torch::full({4}, 512.0f));
  EXPECT_TRUE(s.unscale_and_update(good));
  EXPECT_TRUE(torch::allclose(good[0].second.grad(), torch::full({4}, 0.5f)));
  EXPECT_EQ(s.good_steps(), 1);

  torch::Tensor bad_grad = torch::ones({4});
  bad_grad[2] = std::numeric_limits<float>::quiet_NaN();
  auto bad = one_param(bad_grad);
  EXPECT_FALSE(s.unscale_and_update(bad));
  EXPECT_EQ(s.scale(), 512.0);
  EXPECT_EQ(s.good_steps(), 0);

  for (int i = 0; i < 3; ++i) {
    auto g = one_param(torch::ones({2}));
    EXPECT_TRUE(s.unscale_and_update(g));
  }
  EXPECT_EQ(s.scale(), 1024.0);  // three good steps in a row doubled it
  EXPECT_EQ(s.good_steps(), 0);
}

TEST(LossScaler, StateRoundTripsThroughMetadataAndBadStateIsRefused) {
  train::LossScaler a(true, 256.0, 10);
  auto g = one_param(torch::ones({2}));
  a.unscale_and_update(g);
  a.unscale_and_update(g);
  train::LossScaler b(true);
  b.restore(a.metadata(), "state.safetensors");
  EXPECT_EQ(b.scale(), 256.0);
  EXPECT_EQ(b.good_steps(), 2);
  train::LossScaler c(true, 8.0);
  c.restore({}, "state.safetensors");  // a state from before fp16: the initial scale stays
  EXPECT_EQ(c.scale(), 8.0);
  for (const char* text : {"0 1", "nan 0", "12 -1", "12", "12 3 4", "x y"}) {
    try {
      c.restore({{"loss_scale", text}}, "state.safetensors");
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("state.safetensors"), std::string::npos) << e.what();
    }
  }
}

// bf16 autocast on the CPU: the run trains (finite, falling loss), its weights differ from the
// fp32 run's (autocast really acted) but stay close, and the state carries no loss scale.
TEST(TrainPrecision, Bf16TrainsOnTheCpuCloseToFp32) {
  test::TempDir dir;
  const data::Dataset ds = precision_dataset();
  const auto r32 = train::train_model(ds, {}, {}, dir / "fp32", precision_options("fp32"));
  const auto r16 = train::train_model(ds, {}, {}, dir / "bf16", precision_options("bf16"));
  ASSERT_TRUE(std::isfinite(r16.final_loss));
  EXPECT_NEAR(r16.final_loss, r32.final_loss, 0.1 * r32.final_loss);
  const io::Safetensors a = io::read_safetensors(dir / "fp32" / "diffusion_pytorch_model.safetensors");
  const io::Safetensors b = io::read_safetensors(dir / "bf16" / "diffusion_pytorch_model.safetensors");
  double max_diff = 0;
  for (const auto& [name, w] : a.tensors) {
    const torch::Tensor d = (io::to_tensor(w) - io::to_tensor(b.tensors.at(name))).abs();
    max_diff = std::max(max_diff, d.max().item<double>());
    EXPECT_EQ(b.tensors.at(name).dtype, io::DType::kF32) << name;  // weights stay f32
  }
  EXPECT_GT(max_diff, 0.0);
  EXPECT_LT(max_diff, 0.05);
  const io::Safetensors state = io::read_safetensors(dir / "bf16" / "training_state.safetensors");
  EXPECT_EQ(state.metadata.count("loss_scale"), 0u);
}

TEST(TrainPrecision, Fp16OnTheCpuIsRefusedBeforeAnythingIsWritten) {
  test::TempDir dir;
  try {
    train::train_model(precision_dataset(), {}, {}, dir / "m", precision_options("fp16"));
    FAIL() << "fp16 training on the CPU accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--precision"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "m"));
  train::TrainOptions o = precision_options("fp8");
  EXPECT_THROW(train::validate(o, "train options"), Error);
}

// fp16 with loss scaling on the GPU: finite training, close to the CPU's fp32 run, and the
// scale saved in the state for a resume.
TEST(TrainPrecision, Fp16TrainsOnTheGpuWithALossScale_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  test::TempDir dir;
  const data::Dataset ds = precision_dataset();
  const auto r32 = train::train_model(ds, {}, {}, dir / "fp32", precision_options("fp32"));
  train::TrainOptions o = precision_options("fp16");
  o.device = "cuda";
  const auto r16 = train::train_model(ds, {}, {}, dir / "fp16", o);
  ASSERT_TRUE(std::isfinite(r16.final_loss));
  EXPECT_NEAR(r16.final_loss, r32.final_loss, 0.1 * r32.final_loss);
  const io::Safetensors state = io::read_safetensors(dir / "fp16" / "training_state.safetensors");
  EXPECT_EQ(state.metadata.count("loss_scale"), 1u);
}

// Training on the GPU in f32: the batches, timesteps and noise come from CPU generators, so the run
// is the CPU's up to the GPU kernels' rounding (TF32 convolutions); Adam's normalized steps can
// turn a rounding difference in a near-zero gradient into up to lr per step, hence the bound.
TEST(TrainPrecision, Fp32OnTheGpuFollowsTheCpuRun_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  test::TempDir dir;
  const data::Dataset ds = precision_dataset();
  const auto cpu = train::train_model(ds, {}, {}, dir / "cpu", precision_options("fp32"));
  train::TrainOptions o = precision_options("fp32");
  o.device = "cuda";
  const auto gpu = train::train_model(ds, {}, {}, dir / "gpu", o);
  EXPECT_NEAR(gpu.final_loss, cpu.final_loss, 0.01 * cpu.final_loss);
  const io::Safetensors a = io::read_safetensors(dir / "cpu" / "diffusion_pytorch_model.safetensors");
  const io::Safetensors b = io::read_safetensors(dir / "gpu" / "diffusion_pytorch_model.safetensors");
  for (const auto& [name, w] : a.tensors)  // 8e-3: 4 steps × lr 1e-3, twice
    EXPECT_LT((io::to_tensor(w) - io::to_tensor(b.tensors.at(name))).abs().max().item<double>(), 8e-3) << name;
}
