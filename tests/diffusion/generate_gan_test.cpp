// Sampling a GAN into shards: image i is g(z_i) with z_i from seed + i, whatever the batch or the
// shard that holds it; reruns resume and other options are refused.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/data/generations.h"
#include "diffmem/diffusion/generate.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/io/json.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/generator.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

namespace {

// images = tanh(A z) laid out as [N,1,4,4]; counts its calls and the batch sizes it saw.
class LinearGenerator : public model::Generator {
 public:
  LinearGenerator() : a_(torch::randn({16, 3}, torch::TensorOptions().dtype(torch::kFloat32))) {}
  torch::Tensor generate(const torch::Tensor& z) override {
    ++calls;
    largest = std::max(largest, z.size(0));
    return torch::tanh(z.matmul(a_.t())).view({z.size(0), 1, 4, 4});
  }
  int64_t z_dim() const override { return 3; }
  int64_t height() const override { return 4; }
  int64_t width() const override { return 4; }
  int64_t channels() const override { return 1; }
  torch::Device device() const override { return torch::kCPU; }
  std::string describe() const override { return "linear test generator"; }
  int64_t calls = 0, largest = 0;

 private:
  torch::Tensor a_;
};

diffusion::GenerateOptions opts(int64_t n, int64_t shard, int64_t batch) {
  diffusion::GenerateOptions o;
  o.n = n;
  o.shard_size = shard;
  o.sample.batch = batch;
  o.seed = 40;
  return o;
}

}  // namespace

TEST(GenerateGan, ImageIIsGOfTheLatentOfSeedPlusIWhateverTheBatch) {
  test::TempDir tmp;
  torch::manual_seed(0);
  LinearGenerator g;
  const auto r = diffusion::generate(g, tmp / "a", opts(10, 4, 3));
  EXPECT_EQ(r.shards_total, 3);
  EXPECT_EQ(r.images_written, 10);
  EXPECT_EQ(g.largest, 3);
  const data::Generations gen = data::load_generations(tmp / "a");
  ASSERT_EQ(gen.images.shape, (std::vector<int64_t>{10, 4, 4, 1}));
  // Image 6 alone, from its own seed.
  const torch::Tensor z6 = diffusion::gan_latents({46}, 3);
  const torch::Tensor want = diffusion::to_uint8_nhwc(g.generate(z6));
  EXPECT_TRUE(torch::equal(io::to_tensor(gen.images).slice(0, 6, 7), want));
  // The same images in one batch and one shard.
  diffusion::generate(g, tmp / "b", opts(10, 10, 10));
  EXPECT_TRUE(torch::equal(io::to_tensor(data::load_generations(tmp / "b").images), io::to_tensor(gen.images)));
  // The latents are the diffusion samplers' initial noise for the same seeds.
  std::vector<at::Generator> gens = diffusion::make_generators({46});
  EXPECT_TRUE(torch::equal(z6, diffusion::randn_per_image(gens, {3})));
  const io::Json m = io::read_json(tmp / "a" / "manifest.json");
  EXPECT_EQ(m["sample"]["sampler"], "generator");
  EXPECT_EQ(m["generator"], "linear test generator");
  EXPECT_EQ(m["z_dim"], 3);
}

TEST(GenerateGan, RerunsResumeAndOtherOptionsAreRefused) {
  test::TempDir tmp;
  torch::manual_seed(1);
  LinearGenerator g;
  diffusion::generate(g, tmp / "a", opts(8, 4, 4));
  fs::remove(data::shard_files(tmp / "a", 1).images);
  const auto r = diffusion::generate(g, tmp / "a", opts(8, 4, 2));  // another batch is the same run
  EXPECT_EQ(r.shards_skipped, 1);
  EXPECT_EQ(r.shards_written, 1);
  auto other = opts(8, 4, 4);
  other.seed = 41;
  EXPECT_NE(test::error_of([&] { diffusion::generate(g, tmp / "a", other); }).find("manifest.json"),
            std::string::npos);
  auto cls = opts(8, 4, 4);
  cls.class_label = 2;
  EXPECT_NE(test::error_of([&] { diffusion::generate(g, tmp / "c", cls); }).find("--class"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp / "c"));
}
