// The inpainting attack's pieces: masked distance, ranking loss and candidate ranking against
// naive loops, target selection, and the whole per-target attack on a model that memorized its
// members (members come back, non-members do not).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "diffmem/attack/inpaint_attack.h"
#include "diffmem/attack/inpaint_run.h"
#include "diffmem/core/error.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/diffusion/sampler.h"
#include "mia_test_util.h"

namespace diffmem::attack {
namespace {

/// eps = 0.7 x + 0.05 sin(t): cheap, elementwise, depends on x and t.
class AffineDenoiser : public model::Denoiser {
 public:
  AffineDenoiser(int64_t c, int64_t s) : c_(c), s_(s) {}
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override {
    calls += 1;
    inputs += x.size(0);
    return x * 0.7 + 0.05 * t.to(torch::kFloat32).sin().reshape({-1, 1, 1, 1});
  }
  int64_t in_channels() const override { return c_; }
  int64_t sample_size() const override { return s_; }
  torch::Device device() const override { return torch::kCPU; }
  std::string describe() const override { return "affine test double"; }
  int64_t calls = 0, inputs = 0;

 private:
  int64_t c_, s_;
};

torch::Tensor rand_images(int64_t n, int64_t c, int64_t s, uint64_t seed) {
  auto g = diffusion::make_cpu_generator(seed);
  return at::rand({n, c, s, s}, g, torch::kFloat32) * 2 - 1;
}

InpaintAttackOptions small_options() {
  InpaintAttackOptions o;
  o.candidates = 5;
  o.keep = 2;
  o.rank_draws = 3;
  o.inpaint.sampler = "ddim";
  o.inpaint.steps = 10;
  o.inpaint.batch = 7;
  return o;
}

}  // namespace

TEST(InpaintDistance, MatchesANaiveLoopOverHiddenPixels) {
  auto a = rand_images(3, 2, 6, 1), b = rand_images(1, 2, 6, 2)[0];
  auto mask = make_mask("center", 6, 6);
  auto got = masked_l2(a, b, mask.known);
  ASSERT_EQ(got.size(), 3u);
  for (int64_t i = 0; i < 3; ++i) {
    double sum = 0;
    int64_t n = 0;
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t y = 0; y < 6; ++y)
        for (int64_t x = 0; x < 6; ++x) {
          if (mask.known[0][0][y][x].item<float>() > 0.5f) continue;
          const double p = (a[i][c][y][x].item<double>() + 1) / 2;
          const double q = (b[c][y][x].item<double>() + 1) / 2;
          sum += (p - q) * (p - q);
          ++n;
        }
    EXPECT_EQ(n, 2 * 9);
    EXPECT_NEAR(got[static_cast<size_t>(i)], std::sqrt(sum / static_cast<double>(n)), 1e-12);
  }
  // White vs black on the hidden half is distance 1, whatever the known half holds.
  auto white = torch::ones({1, 1, 4, 4}), black = -torch::ones({1, 1, 4, 4});
  auto left = make_mask("left", 4, 4);
  white.slice(3, 2, 4).fill_(-0.3);
  EXPECT_DOUBLE_EQ(masked_l2(white, black[0], left.known)[0], 1.0);
  EXPECT_DOUBLE_EQ(masked_l2(black, black, left.known)[0], 0.0);
  EXPECT_THROW(masked_l2(white, torch::ones({1, 5, 5}), left.known), Error);
}

TEST(InpaintRanking, LossMatchesANaiveLoopAndIgnoresBatching) {
  diffusion::NoiseSchedule s;
  auto imgs = rand_images(4, 1, 5, 3);
  auto noise = ranking_noise(9, 42, 3, 1, 5, 5);
  AffineDenoiser model(1, 5);
  auto got = ranking_losses(model, s, imgs, noise, 100, 5);
  const double ab = s.alpha_cumprod(100);
  for (int64_t i = 0; i < 4; ++i) {
    double total = 0;
    for (int64_t d = 0; d < 3; ++d) {
      auto x_t = std::sqrt(ab) * imgs[i].to(torch::kFloat64) + std::sqrt(1 - ab) * noise[d].to(torch::kFloat64);
      auto eps = x_t * 0.7 + 0.05 * std::sin(100.0);
      total += (eps - noise[d].to(torch::kFloat64)).pow(2).mean().item<double>();
    }
    EXPECT_NEAR(got[static_cast<size_t>(i)], total / 3, 1e-5);
  }
  EXPECT_EQ(model.inputs, 12);
  EXPECT_EQ(model.calls, 3);  // 12 inputs in batches of 5
  auto one = ranking_losses(model, s, imgs, noise, 100, 1);
  auto all = ranking_losses(model, s, imgs, noise, 100, 64);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_DOUBLE_EQ(one[i], got[i]);
    EXPECT_DOUBLE_EQ(all[i], got[i]);
  }
}

TEST(InpaintRanking, KeepsTheLowestLossesFirst) {
  EXPECT_EQ(rank_candidates({0.5, 0.1, 0.3, 0.1, 0.9}, 3), (std::vector<int64_t>{1, 3, 2}));
  EXPECT_EQ(rank_candidates({2.0}, 1), (std::vector<int64_t>{0}));
  EXPECT_EQ(rank_candidates({3, 2, 1}, 3), (std::vector<int64_t>{2, 1, 0}));
  EXPECT_THROW(rank_candidates({1, 2}, 3), Error);
  EXPECT_THROW(rank_candidates({1, 2}, 0), Error);
}

TEST(InpaintSeeds, CandidatesAndRankingNoiseAreSeededPerTarget) {
  auto a = candidate_seeds(5, 17, 4);
  EXPECT_EQ(a, candidate_seeds(5, 17, 4));
  EXPECT_EQ(std::set<uint64_t>(a.begin(), a.end()).size(), 4u);
  EXPECT_EQ(a[1], a[0] + 1);
  EXPECT_NE(a[0], candidate_seeds(5, 18, 1)[0]);
  EXPECT_NE(a[0], candidate_seeds(6, 17, 1)[0]);
  auto n = ranking_noise(5, 17, 3, 1, 4, 4);
  EXPECT_TRUE(torch::equal(n, ranking_noise(5, 17, 3, 1, 4, 4)));
  EXPECT_TRUE(torch::equal(n.slice(0, 0, 2), ranking_noise(5, 17, 2, 1, 4, 4)));
  EXPECT_FALSE(torch::equal(n, ranking_noise(5, 18, 3, 1, 4, 4)));
}

// Every number of a target's result can be recomputed from its parts: the completions are
// inpaint() from candidate_seeds, the losses ranking_losses() on them with ranking_noise(), the
// kept ones the lowest losses, the kept images those completions.
TEST(InpaintAttack, ResultsAreTheLowestLossCompletionsAndTheirDistances) {
  diffusion::NoiseSchedule s;
  auto x0 = rand_images(3, 1, 6, 4);
  std::vector<InpaintTarget> targets = {{0, 100, true}, {4, 104, false}, {7, 107, true}};
  auto o = small_options();
  auto mask = make_mask("top", 6, 6);
  AffineDenoiser model(1, 6);
  auto res = attack_targets(model, s, x0, targets, mask, o);
  ASSERT_EQ(res.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& r = res[i];
    SCOPED_TRACE("target " + std::to_string(i));
    EXPECT_EQ(r.target.id, targets[i].id);
    auto mine = diffusion::inpaint(model, s, x0[static_cast<int64_t>(i)].unsqueeze(0).repeat({5, 1, 1, 1}),
                                   mask.known, candidate_seeds(o.seed, targets[i].id, 5), o.inpaint);
    auto losses = ranking_losses(model, s, mine, ranking_noise(o.seed, targets[i].id, 3, 1, 6, 6),
                                 o.rank_t, 64);
    auto dist = masked_l2(mine, x0[static_cast<int64_t>(i)], mask.known);
    ASSERT_EQ(r.losses.size(), 5u);
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_NEAR(r.losses[k], losses[k], 1e-9);
      EXPECT_NEAR(r.distances[k], dist[k], 1e-9);
    }
    ASSERT_EQ(r.kept.size(), 2u);
    for (size_t k = 0; k < 5; ++k) {
      if (static_cast<int64_t>(k) != r.kept[0]) {
        EXPECT_LE(r.losses[r.kept[0]], r.losses[k]);
      }
    }
    EXPECT_LE(r.losses[r.kept[0]], r.losses[r.kept[1]]);
    EXPECT_EQ(r.rank1_loss, r.losses[r.kept[0]]);
    EXPECT_EQ(r.rank1_distance, r.distances[r.kept[0]]);
    EXPECT_EQ(r.best_distance, std::min(r.distances[r.kept[0]], r.distances[r.kept[1]]));
    EXPECT_EQ(r.oracle_distance, *std::min_element(dist.begin(), dist.end()));
    EXPECT_LE(r.oracle_distance, r.best_distance);
    EXPECT_TRUE(torch::equal(r.kept_images[0], mine[r.kept[0]]));
    EXPECT_TRUE(torch::equal(r.kept_images[1], mine[r.kept[1]]));
    // The candidates really differ, so the ranking has something to choose from.
    EXPECT_GT(*std::max_element(r.losses.begin(), r.losses.end()),
              *std::min_element(r.losses.begin(), r.losses.end()));
  }
  // Same options, same bytes; a target's result does not depend on its neighbours.
  auto again = attack_targets(model, s, x0.slice(0, 1, 2), {targets[1]}, mask, o);
  EXPECT_EQ(again[0].losses, res[1].losses);
  EXPECT_EQ(again[0].distances, res[1].distances);
  EXPECT_TRUE(torch::equal(again[0].kept_images, res[1].kept_images));
  // Another seed, other completions.
  o.seed = 1;
  auto other = attack_targets(model, s, x0.slice(0, 1, 2), {targets[1]}, mask, o);
  EXPECT_NE(other[0].distances, res[1].distances);
}

// A model that memorized the members completes a member's hidden half into the member itself and
// a non-member's into something else: distances ~0 vs large, as the paper's attack expects.
TEST(InpaintAttack, MemorizedMembersComeBackNonMembersDoNot) {
  diffusion::NoiseSchedule s;
  auto members = rand_images(4, 1, 8, 10), others = rand_images(4, 1, 8, 11);
  test::MemorizingDenoiser model(s, members);
  auto o = small_options();
  o.candidates = 2;
  o.keep = 1;
  o.inpaint.steps = 25;
  std::vector<InpaintTarget> targets;
  for (int64_t i = 0; i < 8; ++i) targets.push_back({i, i, i < 4});
  auto res = attack_targets(model, s, torch::cat({members, others}, 0), targets,
                            make_mask("left", 8, 8), o);
  for (int i = 0; i < 4; ++i) EXPECT_LT(res[i].best_distance, 0.02) << "member " << i;
  for (int i = 4; i < 8; ++i) EXPECT_GT(res[i].best_distance, 0.1) << "non-member " << i;
}

TEST(InpaintAttack, RejectsBadOptions) {
  diffusion::NoiseSchedule s;
  AffineDenoiser model(1, 4);
  auto x0 = rand_images(1, 1, 4, 1);
  auto mask = make_mask("left", 4, 4);
  auto bad = [&](auto edit) {
    auto o = small_options();
    edit(o);
    EXPECT_THROW(attack_targets(model, s, x0, {{0, 0, true}}, mask, o), Error);
  };
  bad([](InpaintAttackOptions& o) { o.keep = 6; });
  bad([](InpaintAttackOptions& o) { o.candidates = 0; });
  bad([](InpaintAttackOptions& o) { o.rank_t = 1000; });
  bad([](InpaintAttackOptions& o) { o.rank_draws = 0; });
  bad([](InpaintAttackOptions& o) { o.inpaint.resample_jumps = 0; });
  EXPECT_THROW(attack_targets(model, s, x0, {{0, 0, true}, {1, 1, false}}, mask, small_options()),
               Error);
}

TEST(InpaintTargets, HalfMembersHalfNonMembersSeededAndNested) {
  std::vector<bool> m(40);
  std::vector<int64_t> ids(40);
  for (int i = 0; i < 40; ++i) {
    m[i] = i % 3 == 0;
    ids[i] = 500 + i;
  }
  auto t = pick_targets(m, ids, 10, 7);
  ASSERT_EQ(t.size(), 10u);
  int members = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    members += t[i].member;
    EXPECT_EQ(t[i].member, m[t[i].row]);
    EXPECT_EQ(t[i].id, ids[t[i].row]);
    if (i > 0) {
      EXPECT_LT(t[i - 1].row, t[i].row);
    }
  }
  EXPECT_EQ(members, 5);
  EXPECT_EQ(t.size(), pick_targets(m, ids, 10, 7).size());
  EXPECT_EQ(pick_targets(m, ids, 10, 7)[3].row, t[3].row);
  // More targets: a superset.
  auto more = pick_targets(m, ids, 20, 7);
  std::set<int64_t> rows;
  for (auto& x : more) rows.insert(x.row);
  for (auto& x : t) EXPECT_TRUE(rows.count(x.row)) << x.row;
  // Another seed, another draw.
  auto other = pick_targets(m, ids, 10, 8);
  bool differs = false;
  for (size_t i = 0; i < 10; ++i) differs |= other[i].row != t[i].row;
  EXPECT_TRUE(differs);
  // 14 members only: asking for 20 each gives all 14 members and 20 non-members.
  auto capped = pick_targets(m, ids, 40, 7);
  int cm = 0;
  for (auto& x : capped) cm += x.member;
  EXPECT_EQ(cm, 14);
  EXPECT_EQ(capped.size(), 34u);
}

TEST(InpaintTargets, CopiesOfOneImageAreOneTarget) {
  // Rows 0..5 are three images twice each (ids 7, 8, 9); members 7 and 8.
  std::vector<int64_t> ids = {7, 8, 9, 7, 8, 9};
  std::vector<bool> m = {true, true, false, true, true, false};
  auto t = pick_targets(m, ids, 6, 0);
  ASSERT_EQ(t.size(), 3u);
  std::set<int64_t> seen;
  for (auto& x : t) {
    EXPECT_LT(x.row, 3);
    seen.insert(x.id);
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_THROW(pick_targets(m, ids, 1, 0), Error);
  EXPECT_THROW(pick_targets({true}, ids, 4, 0), Error);
}

// The inpainting attack on the GPU: the completions' noise comes from CPU generators, so a real
// network gives the CPU's losses and distances up to the GPU kernels' rounding, and the same
// ranking wherever two losses are not within that rounding.
TEST(InpaintAttack, GpuResultsAreTheCpus_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  diffusion::NoiseSchedule s;
  auto x0 = rand_images(2, 1, 8, 4);
  const std::vector<InpaintTarget> targets = {{0, 100, true}, {1, 101, false}};
  const auto o = small_options();
  const auto mask = make_mask("top", 8, 8);
  model::UNet2DDenoiser cpu(test::tiny_unet(8, 1, 6));
  model::UNet2D moved = test::tiny_unet(8, 1, 6);
  moved->to(torch::kCUDA);
  model::UNet2DDenoiser gpu(moved);
  const auto a = attack_targets(cpu, s, x0, targets, mask, o);
  const auto b = attack_targets(gpu, s, x0, targets, mask, o);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t k = 0; k < a[i].distances.size(); ++k) {
      EXPECT_NEAR(b[i].distances[k], a[i].distances[k], 1e-3) << "target " << i << " candidate " << k;
      EXPECT_NEAR(b[i].losses[k], a[i].losses[k], 1e-3 * a[i].losses[k]) << "target " << i << " candidate " << k;
    }
    EXPECT_TRUE(b[i].kept_images.device().is_cpu());
  }
}

}  // namespace diffmem::attack
