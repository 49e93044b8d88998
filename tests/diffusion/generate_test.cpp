#include "diffmem/diffusion/generate.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/data/generations.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {
// eps = 0.1 * x: cheap, deterministic, and the images still depend on each image's own noise.
class ScaleDenoiser : public model::Denoiser {
 public:
  int calls = 0;
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor&) override {
    ++calls;
    return 0.1 * x;
  }
  int64_t in_channels() const override { return 1; }
  int64_t sample_size() const override { return 4; }
  torch::Device device() const override { return torch::kCPU; }
  std::string describe() const override { return "scale"; }
};

diffusion::GenerateOptions options(int64_t n, int64_t shard) {
  diffusion::GenerateOptions o;
  o.n = n;
  o.shard_size = shard;
  o.seed = 100;
  o.sample.sampler = "ddim";
  o.sample.steps = 5;
  o.sample.batch = 3;
  return o;
}
}  // namespace

TEST(Generate, ShardsAreIndependentOfShardSizeAndResume) {
  test::TempDir dir;
  diffusion::SchedulerConfig sc;
  sc.num_train_timesteps = 50;
  diffusion::NoiseSchedule schedule(sc);
  ScaleDenoiser d;
  auto r = diffusion::generate(d, schedule, dir / "a", options(7, 3), nullptr);
  EXPECT_EQ(r.shards_total, 3);
  EXPECT_EQ(r.images_written, 7);
  auto a = data::load_generations(dir / "a");
  EXPECT_EQ(a.seeds, (std::vector<int64_t>{100, 101, 102, 103, 104, 105, 106}));
  EXPECT_TRUE(fs::exists(dir / "a/preview.png"));

  // Image i is a function of its seed alone: one shard of 7 gives the same bytes.
  ScaleDenoiser d2;
  diffusion::generate(d2, schedule, dir / "b", options(7, 7), nullptr);
  auto b = data::load_generations(dir / "b");
  EXPECT_EQ(a.images.bytes, b.images.bytes);

  // Interrupted run: remove the last shard; a rerun regenerates only it, with the same bytes.
  fs::remove(data::shard_files(dir / "a", 2).images);
  ScaleDenoiser d3;
  auto r2 = diffusion::generate(d3, schedule, dir / "a", options(7, 3), nullptr);
  EXPECT_EQ(r2.shards_skipped, 2);
  EXPECT_EQ(r2.shards_written, 1);
  EXPECT_EQ(r2.images_written, 1);
  EXPECT_EQ(data::load_generations(dir / "a").images.bytes, a.images.bytes);
}

TEST(Generate, WorkersSplitShardsAndOtherOptionsAreRefused) {
  test::TempDir dir;
  diffusion::NoiseSchedule schedule;
  ScaleDenoiser d;
  auto o = options(6, 2);
  o.shard_index = 1;
  o.shard_count = 2;
  auto r = diffusion::generate(d, schedule, dir / "w", o, nullptr);
  EXPECT_EQ(r.shards_written, 1);  // of shards 0,1,2 this worker takes shard 1 only
  EXPECT_TRUE(fs::exists(data::shard_files(dir / "w", 1).images));
  EXPECT_FALSE(fs::exists(data::shard_files(dir / "w", 0).images));
  auto other = options(6, 2);
  other.seed = 5;
  EXPECT_THROW(diffusion::generate(d, schedule, dir / "w", other, nullptr), Error);
}
