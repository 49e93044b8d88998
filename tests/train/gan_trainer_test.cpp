// GAN training: a folder sampling can open, a stop after a checkpoint resumed to the same bytes,
// more steps continuing a finished run, other options refused, K GANs on seeded halves.
#include "diffmem/train/gan_trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/data/dataset.h"
#include "diffmem/model/dcgan.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

// n grey 8x8 images: a bright square at a seeded place on a dark ground.
data::Dataset squares(int64_t n = 24) {
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, 8, 8, 1});
  core::Rng rng(5);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y0 = static_cast<int64_t>(rng.below(5)), x0 = static_cast<int64_t>(rng.below(5));
    for (int64_t y = 0; y < 8; ++y)
      for (int64_t x = 0; x < 8; ++x) {
        const bool in = y >= y0 && y < y0 + 3 && x >= x0 && x < x0 + 3;
        ds.images.bytes[static_cast<size_t>(i * 64 + y * 8 + x)] = static_cast<uint8_t>(in ? 220 : 20);
      }
    ds.labels.push_back(0);
    ds.ids.push_back(i);
  }
  return ds;
}

train::GanTrainOptions tiny() {
  train::GanTrainOptions o;
  o.z_dim = 8;
  o.base_width = 4;
  o.steps = 20;
  o.batch = 8;
  o.lr = 1e-3;
  o.checkpoint_every = 10;
  o.seed = 7;
  return o;
}

}  // namespace

TEST(GanTrainer, LeavesAGanFolderThatSamples) {
  test::TempDir tmp;
  const auto r = train::train_gan(squares(), {}, {}, tmp / "gan", tiny());
  EXPECT_EQ(r.steps_done, 20);
  EXPECT_FALSE(r.already_done);
  EXPECT_GT(r.parameters, 0);
  EXPECT_TRUE(std::isfinite(r.d_loss) && std::isfinite(r.g_loss));
  EXPECT_GT(r.d_loss, 0.0);  // softplus losses are positive
  for (const char* f : {"config.json", "generator.safetensors", "discriminator.safetensors", "gan_options.json",
                        "training_state.safetensors"})
    EXPECT_TRUE(fs::exists(tmp / "gan" / f)) << f;
  EXPECT_TRUE(model::is_gan_folder(tmp / "gan"));
  model::DcganSampler g(tmp / "gan", torch::kCPU);
  const torch::Tensor x = g.generate(torch::randn({4, 8}));
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{4, 1, 8, 8}));
  EXPECT_GT(x.std().item<double>(), 0.0);
  // Rerun: nothing to do.
  EXPECT_TRUE(train::train_gan(squares(), {}, {}, tmp / "gan", tiny()).already_done);
}

TEST(GanTrainer, StoppedAfterACheckpointAndResumedEqualsUnbroken) {
  test::TempDir tmp;
  const data::Dataset ds = squares();
  train::train_gan(ds, {}, {}, tmp / "full", tiny());
  struct Stop {};
  EXPECT_THROW(train::train_gan(ds, {}, {}, tmp / "split", tiny(),
                                [](const ProgressEvent& e) {
                                  if (e.done == 10) throw Stop{};  // reported after step 10's checkpoint
                                }),
               Stop);
  const auto r = train::train_gan(ds, {}, {}, tmp / "split", tiny());
  EXPECT_EQ(r.start_step, 10);
  for (const char* f : {"generator.safetensors", "discriminator.safetensors", "training_state.safetensors"})
    EXPECT_EQ(test::read_bytes(tmp / "full" / f), test::read_bytes(tmp / "split" / f)) << f;
}

TEST(GanTrainer, MoreStepsContinueAndOtherOptionsAreRefused) {
  test::TempDir tmp;
  const data::Dataset ds = squares();
  auto o = tiny();
  o.steps = 10;
  train::train_gan(ds, {}, {}, tmp / "gan", o);
  o.steps = 20;
  EXPECT_EQ(train::train_gan(ds, {}, {}, tmp / "gan", o).start_step, 10);
  // Training on is training as if the longer run had been asked for at once.
  train::train_gan(ds, {}, {}, tmp / "once", tiny());
  EXPECT_EQ(test::read_bytes(tmp / "gan" / "generator.safetensors"),
            test::read_bytes(tmp / "once" / "generator.safetensors"));
  o.lr = 5e-4;
  EXPECT_NE(test::error_of([&] { train::train_gan(ds, {}, {}, tmp / "gan", o); }).find("gan_options.json"),
            std::string::npos);
  auto bad = tiny();
  bad.beta1 = 1.0;
  EXPECT_NE(test::error_of([&] { train::train_gan(ds, {}, {}, tmp / "bad", bad); }).find("beta1"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp / "bad"));
  // Images the generator cannot make (sides not multiples of 4) are refused before any step.
  data::Dataset odd = squares(4);
  odd.images = io::HostArray::zeros(io::DType::kU8, {4, 6, 6, 1});
  EXPECT_NE(test::error_of([&] { train::train_gan(odd, {}, {}, tmp / "odd", tiny()); }).find("multiple of 4"),
            std::string::npos);
}

TEST(GanTrainer, ManyGansOnSeededHalves) {
  test::TempDir tmp;
  auto o = tiny();
  o.steps = 2;
  const auto rs = train::train_gan_many(squares(), tmp / "gans", o, 2, "half");
  ASSERT_EQ(rs.size(), 2u);
  const auto m0 = data::load_members(tmp / "gans" / "model-000", 24);
  const auto m1 = data::load_members(tmp / "gans" / "model-001", 24);
  ASSERT_TRUE(m0 && m1);
  EXPECT_EQ(std::count(m0->begin(), m0->end(), true), 12);
  EXPECT_NE(*m0, *m1);
  EXPECT_NE(test::error_of([&] { train::train_gan_many(squares(), tmp / "x", o, 2, "third"); }).find("--split"),
            std::string::npos);
}
