// The loss statistic: per-example seeded noise, batching that never changes a score, flips, and a
// memorizing model that the loss attack must catch perfectly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/attack/mia_scores.h"
#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/diffusion/loss.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/metrics/roc.h"
#include "mia_test_util.h"

namespace diffmem::attack {
namespace {

torch::Tensor images(const data::Dataset& ds) {
  auto u8 = torch::from_blob(const_cast<uint8_t*>(ds.images.data<uint8_t>()),
                             {ds.size(), ds.height(), ds.width(), ds.channels()}, torch::kUInt8);
  return diffusion::from_uint8_nhwc(u8);
}

TEST(MiaNoise, DrawsComeFromTheExampleGeneratorOneAtATime) {
  auto a = example_noise(5, 1007, 4, 2, 3, 3);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{4, 2, 3, 3}));
  at::Generator gen = diffusion::make_cpu_generator(core::derive_seed(5, 1007));
  for (int64_t j = 0; j < 4; ++j)
    EXPECT_TRUE(torch::equal(a[j], torch::randn({2, 3, 3}, gen, torch::kFloat32))) << j;
  // The first draws do not depend on how many were asked for; ids and seeds change them.
  EXPECT_TRUE(torch::equal(example_noise(5, 1007, 2, 2, 3, 3), a.slice(0, 0, 2)));
  EXPECT_FALSE(torch::equal(example_noise(5, 1008, 4, 2, 3, 3), a));
  EXPECT_FALSE(torch::equal(example_noise(6, 1007, 4, 2, 3, 3), a));
}

TEST(MiaLoss, MatchesANaiveLoopOverExamplesDrawsAndFlips) {
  auto ds = test::random_dataset(5, 8, 1, 11);
  auto unet = test::tiny_unet(8, 1, 3);
  model::UNet2DDenoiser d(unet);
  diffusion::NoiseSchedule sched;
  LossScoreOptions o;
  o.t = 150;
  o.draws = 3;
  o.flip = true;
  o.seed = 42;
  o.batch = 4;  // examples split across batches
  auto got = loss_errors(d, sched, ds, o);
  ASSERT_EQ(got.size(), 5u);
  torch::NoGradGuard ng;
  auto x = images(ds);
  for (int64_t e = 0; e < 5; ++e) {
    auto noise = example_noise(42, ds.ids[e], 6, 1, 8, 8);
    double sum = 0;
    for (int64_t j = 0; j < 6; ++j) {
      auto x0 = x.slice(0, e, e + 1);
      if (j >= 3) x0 = x0.flip({3});
      auto l = diffusion::noise_prediction_loss(d, sched, x0, torch::full({1}, 150, torch::kLong),
                                                noise.slice(0, j, j + 1));
      sum += l.per_example.item<double>();
    }
    EXPECT_NEAR(got[e], sum / 6, 1e-6 * sum / 6) << e;
    EXPECT_GT(got[e], 0.0);
  }
}

// Elementwise, so its outputs cannot depend on the batch: whatever differs is the pipeline's doing.
class AffineScoreDenoiser : public model::Denoiser {
 public:
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override {
    return x * 0.7 - t.to(torch::kFloat32).reshape({-1, 1, 1, 1}) / 3000.0;
  }
  int64_t in_channels() const override { return 1; }
  int64_t sample_size() const override { return 8; }
  torch::Device device() const override { return torch::kCPU; }
  std::string describe() const override { return "affine test double"; }
};

TEST(MiaLoss, IdenticalAcrossBatchSizesAndRuns) {
  auto ds = test::random_dataset(7, 8, 1, 12);
  AffineScoreDenoiser affine;
  model::UNet2DDenoiser unet(test::tiny_unet(8, 1, 4));
  diffusion::NoiseSchedule sched;
  LossScoreOptions o;
  o.draws = 5;
  o.flip = true;
  o.batch = 1;
  auto ref = loss_errors(affine, sched, ds, o);
  auto ref_unet = loss_errors(unet, sched, ds, o);
  for (int64_t b : {2, 3, 5, 7, 16, 35, 1000}) {
    o.batch = b;
    // Bit for bit: noise, flips and the per-example sums never see the batch boundaries.
    EXPECT_EQ(loss_errors(affine, sched, ds, o), ref) << "batch " << b;
    // A real network's CPU kernels pick their algorithm by batch shape, so only float rounding
    // may differ.
    auto got = loss_errors(unet, sched, ds, o);
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], ref_unet[i], 1e-6 * ref_unet[i]) << "batch " << b << " example " << i;
  }
  EXPECT_EQ(loss_errors(unet, sched, ds, o), loss_errors(unet, sched, ds, o));  // same run, same bits
  o.seed = 1;
  EXPECT_NE(loss_errors(affine, sched, ds, o), ref);
}

// Membership scores on the GPU: the noise is drawn per example on CPU generators, so the scores
// are the CPU's up to the GPU kernels' rounding.
TEST(MiaLoss, GpuScoresAreTheCpus_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto ds = test::random_dataset(7, 8, 1, 12);
  model::UNet2D net = test::tiny_unet(8, 1, 4);
  model::UNet2DDenoiser cpu(net);
  const auto ref = loss_errors(cpu, diffusion::NoiseSchedule(), ds, LossScoreOptions{});
  model::UNet2D moved = test::tiny_unet(8, 1, 4);
  moved->to(torch::kCUDA);
  model::UNet2DDenoiser gpu(moved);
  const auto got = loss_errors(gpu, diffusion::NoiseSchedule(), ds, LossScoreOptions{});
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-3 * ref[i]) << "example " << i;
}

TEST(MiaLoss, AnExampleScoresTheSameWhateverRowItSitsIn) {
  auto ds = test::random_dataset(6, 8, 1, 13);
  model::UNet2DDenoiser d(test::tiny_unet(8, 1, 5));
  diffusion::NoiseSchedule sched;
  LossScoreOptions o;
  o.draws = 4;
  o.batch = 8;
  auto ref = loss_errors(d, sched, ds, o);
  // Reverse the rows (ids travel with their images): the noise is keyed by id, not by row.
  data::Dataset rev = ds;
  const int64_t bytes = ds.image_bytes();
  for (int64_t i = 0; i < 6; ++i) {
    std::memcpy(rev.images.data<uint8_t>() + i * bytes, ds.image(5 - i), static_cast<size_t>(bytes));
    rev.ids[i] = ds.ids[5 - i];
  }
  auto got = loss_errors(d, sched, rev, o);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(got[i], ref[5 - i]) << i;
}

TEST(MiaLoss, FlipOfASymmetricImageIsJustMoreDraws) {
  // A mirror-symmetric image looks the same flipped, so K draws with the flip are the 2K draws
  // without it, bit for bit; an asymmetric image is scored differently.
  auto sym = test::random_dataset(4, 8, 1, 14, /*symmetric=*/true);
  auto asym = test::random_dataset(4, 8, 1, 14);
  model::UNet2DDenoiser d(test::tiny_unet(8, 1, 6));
  diffusion::NoiseSchedule sched;
  LossScoreOptions flip, twice;
  flip.draws = 3;
  flip.flip = true;
  twice.draws = 6;
  EXPECT_EQ(loss_errors(d, sched, sym, flip), loss_errors(d, sched, sym, twice));
  auto a = loss_errors(d, sched, asym, flip), b = loss_errors(d, sched, asym, twice);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NE(a[i], b[i]) << i;
}

TEST(MiaLoss, MemorizedMembersMakeTheLossAttackPerfect) {
  auto ds = test::random_dataset(12, 8, 1, 15);
  std::vector<bool> member(12);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < 12; ++i)
    if ((member[i] = (i % 3 != 0))) rows.push_back(i);
  diffusion::NoiseSchedule sched;
  test::MemorizingDenoiser d(sched, images(ds).index_select(0, torch::tensor(rows)));
  LossScoreOptions o;
  o.draws = 4;
  o.batch = 5;
  auto loss = loss_errors(d, sched, ds, o);
  std::vector<double> score;
  for (int64_t i = 0; i < 12; ++i) {
    if (member[i]) EXPECT_LT(loss[i], 1e-6) << i;
    else EXPECT_GT(loss[i], 0.3) << i;  // the mean square of 4 × 64 standard normals
    score.push_back(-loss[i]);
  }
  auto roc = metrics::roc_curve(score, member);
  EXPECT_DOUBLE_EQ(roc.auc(), 1.0);
  EXPECT_DOUBLE_EQ(roc.tpr_at_fpr(0.001), 1.0);
}

TEST(MiaLoss, BadOptionsNameTheField) {
  auto ds = test::random_dataset(2, 8, 1, 16);
  model::UNet2DDenoiser d(test::tiny_unet(8, 1, 7));
  diffusion::NoiseSchedule sched;
  LossScoreOptions o;
  o.t = 1000;
  try {
    loss_errors(d, sched, ds, o);
    FAIL() << "t = 1000 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t in [0, 1000)"), std::string::npos) << e.what();
  }
  o.t = 100;
  o.draws = 0;
  EXPECT_THROW(loss_errors(d, sched, ds, o), Error);
}

TEST(MiaScorer, ObjectsDescribeTheirStatistic) {
  LossScoreOptions lo;
  lo.draws = 5;
  lo.flip = true;
  auto loss = make_loss_scorer(lo);
  EXPECT_EQ(loss->name(), "loss");
  EXPECT_EQ(loss->forwards_per_example(), 10);
  EXPECT_FALSE(loss->options().contains("batch"));  // batch never changes a score: not a cache key
  EXPECT_EQ(loss->options().at("t"), 100);
  EXPECT_EQ(loss->at_timestep(250)->options().at("t"), 250);
  EXPECT_EQ(make_secmi_scorer({})->forwards_per_example(), 11);  // 9 inversions + 2
  EXPECT_EQ(make_pia_scorer({})->forwards_per_example(), 2);
  EXPECT_EQ(make_pia_scorer({})->options().at("t"), 200);
}

}  // namespace
}  // namespace diffmem::attack
