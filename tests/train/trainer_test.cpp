#include "diffmem/train/trainer.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/core/runtime.h"
#include "diffmem/io/safetensors.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {
// 12 random 8x8 grey images: enough for the tiny preset to take real steps quickly.
data::Dataset tiny_dataset(int64_t n = 12) {
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, 8, 8, 1});
  core::Rng rng(9);
  for (auto& b : ds.images.bytes) b = static_cast<uint8_t>(rng.below(256));
  for (int64_t i = 0; i < n; ++i) {
    ds.labels.push_back(-1);
    ds.ids.push_back(i);
  }
  return ds;
}

train::TrainOptions tiny_options(int64_t steps) {
  train::TrainOptions o;
  o.preset = "tiny";
  o.steps = steps;
  o.batch = 4;
  o.warmup_steps = 2;
  o.checkpoint_every = 3;
  o.seed = 5;
  o.num_train_timesteps = 100;
  return o;
}
}  // namespace

TEST(Trainer, WritesADiffusersFolderAndMembers) {
  test::TempDir dir;
  auto ds = tiny_dataset();
  std::vector<bool> members(ds.size(), false);
  members[0] = members[3] = true;
  auto r = train::train_model(ds, {0, 3}, members, dir / "m", tiny_options(3));
  EXPECT_EQ(r.steps_done, 3);
  EXPECT_FALSE(r.already_done);
  EXPECT_GT(r.final_loss, 0.0);
  for (auto f : {"config.json", "diffusion_pytorch_model.safetensors", "scheduler_config.json",
                 "members.npy", "train_options.json", "training_state.safetensors"})
    EXPECT_TRUE(fs::exists(dir / "m" / f)) << f;
  auto m = data::load_members(dir / "m", ds.size());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(*m, members);
  // A rerun of the finished run trains nothing.
  auto again = train::train_model(ds, {0, 3}, members, dir / "m", tiny_options(3));
  EXPECT_TRUE(again.already_done);
}

TEST(Trainer, KilledAndResumedEqualsUninterrupted) {
  test::TempDir dir;
  auto ds = tiny_dataset();
  // Uninterrupted: 6 steps. Interrupted: 3 steps (a checkpoint), then the same command for 6.
  const auto full = train::train_model(ds, {}, {}, dir / "full", tiny_options(6));
  train::train_model(ds, {}, {}, dir / "split", tiny_options(3));
  auto r = train::train_model(ds, {}, {}, dir / "split", tiny_options(6));
  EXPECT_EQ(r.start_step, 3);
  // The final loss (the mean of the last losses) counts the steps before the kill too.
  EXPECT_EQ(r.final_loss, full.final_loss);
  std::string a = test::read_bytes(dir / "full/diffusion_pytorch_model.safetensors");
  std::string b = test::read_bytes(dir / "split/diffusion_pytorch_model.safetensors");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  EXPECT_EQ(test::read_bytes(dir / "full/training_state.safetensors"),
            test::read_bytes(dir / "split/training_state.safetensors"));
}

TEST(Trainer, DifferentOptionsInTheSameFolderAreRefused) {
  test::TempDir dir;
  auto ds = tiny_dataset();
  train::train_model(ds, {}, {}, dir / "m", tiny_options(1));
  auto o = tiny_options(2);
  o.lr = 0.5;
  EXPECT_THROW(train::train_model(ds, {}, {}, dir / "m", o), Error);
}

TEST(Trainer, NonFiniteLossNamesTheStepAndCheckpoint) {
  test::TempDir dir;
  auto ds = tiny_dataset();
  auto o = tiny_options(20);
  o.lr = 1e30;  // the weights blow up within a few steps
  o.grad_clip = 0;
  o.warmup_steps = 0;
  try {
    train::train_model(ds, {}, {}, dir / "m", o);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("finite loss at step"), std::string::npos) << msg;
    EXPECT_NE(msg.find("last good checkpoint"), std::string::npos) << msg;
  }
}

TEST(Trainer, ManyModelsGetTheirOwnHalves) {
  test::TempDir dir;
  auto ds = tiny_dataset();
  train::ManyOptions many;
  many.models = 2;
  auto rs = train::train_many(ds, dir.path(), tiny_options(1), many);
  ASSERT_EQ(rs.size(), 2u);
  auto m0 = data::load_members(dir / "model-000", ds.size());
  auto m1 = data::load_members(dir / "model-001", ds.size());
  ASSERT_TRUE(m0 && m1);
  EXPECT_EQ(std::count(m0->begin(), m0->end(), true), ds.size() / 2);
  EXPECT_EQ(std::count(m1->begin(), m1->end(), true), ds.size() / 2);
  EXPECT_NE(*m0, *m1);
}

TEST(Trainer, CheckpointsLeaveTorchsGlobalGeneratorAlone) {
  // Models trained side by side share torch's global generator, and each takes it only under a
  // lock while it draws its initial weights. Nothing after that may draw from it: a checkpoint
  // once did (it copied the network, and a copy re-initialises every layer), so a model that
  // started while another was checkpointing got different initial weights — once in ~30 runs.
  // Here one run checkpoints every step and the other only at the end; the generator must end
  // in the same state.
  test::TempDir dir;
  auto ds = tiny_dataset();
  auto o = tiny_options(3);
  o.checkpoint_every = 1;
  train::train_model(ds, {}, {}, dir / "every", o);
  const torch::Tensor after_every = torch::rand({8});
  o.checkpoint_every = 0;
  train::train_model(ds, {}, {}, dir / "end", o);
  const torch::Tensor after_end = torch::rand({8});
  EXPECT_TRUE(torch::equal(after_every, after_end)) << after_every << after_end;
}

TEST(Trainer, ParallelJobsGiveTheSameModelsAsOneAtATime) {
  // Each model's randomness is its own seed's, so training side by side (jobs 2, one thread each)
  // must leave exactly the bytes that one-at-a-time training on one thread leaves.
  test::TempDir dir;
  auto ds = tiny_dataset();
  train::ManyOptions many;
  many.models = 3;
  core::set_threads(1);
  train::train_many(ds, dir / "seq", tiny_options(4), many);
  core::set_threads(2);
  many.jobs = 2;
  std::mutex m;
  std::set<std::string> stages;
  auto rs = train::train_many(ds, dir / "par", tiny_options(4), many, [&](const ProgressEvent& e) {
    std::lock_guard<std::mutex> lock(m);
    stages.insert(e.stage);
  });
  ASSERT_EQ(rs.size(), 3u);
  for (const char* name : {"model-000", "model-001", "model-002"}) {
    for (const char* f : {"diffusion_pytorch_model.safetensors", "members.npy"})
      EXPECT_EQ(test::read_bytes(dir / "seq" / name / f), test::read_bytes(dir / "par" / name / f))
          << name << "/" << f;
    EXPECT_TRUE(stages.count(std::string("train ") + name)) << name;
  }
  many.jobs = 0;
  EXPECT_THROW(train::train_many(ds, dir / "bad", tiny_options(1), many), Error);
}

// Non-square data builds a non-square U-Net (diffusers' sample_size [H, W]); sides the levels
// cannot halve are refused naming sample_size.
TEST(Trainer, NonSquareDataBuildsANonSquareModel) {
  train::TrainOptions o;
  o.preset = "tiny";
  const model::UNet2DConfig c = train::model_config(28, 14, 1, o);
  EXPECT_EQ(c.sample_size, 28);
  EXPECT_EQ(c.width(), 14);
  EXPECT_EQ(c.to_json().at("sample_size"), (io::Json{28, 14}));
  EXPECT_NE(test::error_of([&] { train::model_config(28, 15, 1, o); }).find("sample_size"), std::string::npos);
}

TEST(Trainer, AStateWhoseStepIsNotAPlainIntegerIsRefused) {
  test::TempDir dir;
  auto ds = tiny_dataset();
  train::train_model(ds, {}, {}, dir / "m", tiny_options(3));
  const fs::path state = dir / "m" / "training_state.safetensors";
  for (const char* bad : {"-5", "abc", "1.5e1", "10xyz", ""}) {
    io::Safetensors st = io::read_safetensors(state);
    st.metadata["step"] = bad;
    io::write_safetensors(state, st);
    const std::string msg = test::error_of([&] { train::train_model(ds, {}, {}, dir / "m", tiny_options(6)); });
    EXPECT_NE(msg.find("training_state.safetensors: metadata 'step'"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find("a non-negative integer"), std::string::npos) << bad << ": " << msg;
  }
}
