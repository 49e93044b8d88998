// LiRA on score arrays: hand-worked cases for every branch of the formula, and a synthetic
// population in which the attacks must order as the theory says.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "diffmem/attack/mia_lira.h"
#include "diffmem/core/error.h"
#include "diffmem/metrics/roc.h"

namespace diffmem::attack {
namespace {

LiraOptions raw(bool online, bool global = false) {
  LiraOptions o;
  o.online = online;
  o.global_variance = global;
  o.statistic = "raw";  // statistic = −error: the tests below write errors as −statistic
  return o;
}

double log_pdf(double x, double mu, double var) {
  return -0.5 * std::log(2 * M_PI * var) - (x - mu) * (x - mu) / (2 * var);
}

TEST(MiaLira, StatisticTransforms) {
  EXPECT_DOUBLE_EQ(lira_statistic(0.1, "raw"), -0.1);
  // −log(expm1(0.1)) = −log(0.10517091807564763)
  EXPECT_NEAR(lira_statistic(0.1, "logit"), 2.2521684610440903, 1e-14);
  // ≈ −log(loss) for small losses, decreasing in the loss, finite at 0.
  EXPECT_NEAR(lira_statistic(1e-4, "logit"), -std::log(1e-4), 1e-4);
  EXPECT_GT(lira_statistic(0.01, "logit"), lira_statistic(0.02, "logit"));
  EXPECT_TRUE(std::isfinite(lira_statistic(0.0, "logit")));
  EXPECT_THROW(lira_statistic(0.1, "probit"), Error);
}

TEST(MiaLira, OnlineHandCase) {
  // One example; shadows 0, 1 trained on it (statistics 1, 3), shadows 2, 3 did not (−1, 1):
  // IN ~ N(2, 1), OUT ~ N(0, 1) (variance ddof 0). Target statistic 1.5:
  // log N(1.5; 2, 1) − log N(1.5; 0, 1) = −0.125 + 1.125 = 1.
  std::vector<std::vector<double>> shadow = {{-1.0}, {-3.0}, {1.0}, {-1.0}};
  std::vector<std::vector<bool>> in = {{true}, {true}, {false}, {false}};
  auto r = lira_scores({-1.5}, shadow, in, raw(true));
  ASSERT_EQ(r.scores.size(), 1u);
  EXPECT_NEAR(r.scores[0], 1.0, 1e-12);
  EXPECT_EQ(r.missing_in, 0);
  EXPECT_EQ(r.pooled_variances, 0);
  EXPECT_NEAR(r.mean_shift, 2.0, 1e-12);
}

TEST(MiaLira, OfflineHandCaseIsTheOneSidedPValue) {
  std::vector<std::vector<double>> shadow = {{-1.0}, {-3.0}, {1.0}, {-1.0}};
  std::vector<std::vector<bool>> in = {{true}, {true}, {false}, {false}};
  auto r = lira_scores({-1.5}, shadow, in, raw(false));
  // −log P(Z > 1.5), Z ~ N(0, 1): P = erfc(1.5/√2)/2 = 0.066807201268858...
  EXPECT_NEAR(r.scores[0], -std::log(0.5 * std::erfc(1.5 / std::sqrt(2.0))), 1e-12);
  EXPECT_NEAR(r.scores[0], 2.70594, 1e-5);
  // Higher statistic → more member-like.
  auto r2 = lira_scores({-2.5}, shadow, in, raw(false));
  EXPECT_GT(r2.scores[0], r.scores[0]);
}

TEST(MiaLira, GlobalVarianceIsThePooledWithinExampleVariance) {
  // Two examples, three shadows. Example 0: IN {1, 3}, OUT {0}; example 1: IN {5}, OUT {−2, 0}.
  // Pooled IN = ((1−2)² + (3−2)²) / (2 − 1) = 2; pooled OUT = ((−2+1)² + (0+1)²) / 1 = 2.
  std::vector<std::vector<double>> s = {{-1, -5}, {-3, 2}, {0, 0}};
  std::vector<std::vector<bool>> in = {{true, true}, {true, false}, {false, false}};
  auto r = lira_scores({-2, -4}, s, in, raw(true, true));
  EXPECT_NEAR(r.pooled_in_variance, 2.0, 1e-12);
  EXPECT_NEAR(r.pooled_out_variance, 2.0, 1e-12);
  EXPECT_NEAR(r.scores[0], log_pdf(2, 2, 2) - log_pdf(2, 0, 2), 1e-12);
  EXPECT_NEAR(r.scores[1], log_pdf(4, 5, 2) - log_pdf(4, -1, 2), 1e-12);
  EXPECT_EQ(r.pooled_variances, 0);  // global: nobody "fell back"

  // Per-example: the one-score groups (example 0's OUT, example 1's IN) take the pooled variance.
  auto p = lira_scores({-2, -4}, s, in, raw(true, false));
  EXPECT_EQ(p.pooled_variances, 2);
  EXPECT_NEAR(p.scores[0], log_pdf(2, 2, 1) - log_pdf(2, 0, 2), 1e-12);
  EXPECT_NEAR(p.scores[1], log_pdf(4, 5, 2) - log_pdf(4, -1, 1), 1e-12);
}

TEST(MiaLira, AnAbsentGroupUsesTheMeanShift) {
  // Example 1 is in no shadow's training set: μ_in = μ_out + (mean IN − OUT over example 0) = 0 + 4.
  std::vector<std::vector<double>> s = {{-3, 1}, {-5, -1}, {1, 0}, {-1, 0}};
  std::vector<std::vector<bool>> in = {{true, false}, {true, false}, {false, false}, {false, false}};
  auto r = lira_scores({-4, -2}, s, in, raw(true));
  EXPECT_EQ(r.missing_in, 1);
  EXPECT_NEAR(r.mean_shift, 4.0, 1e-12);
  // Example 1: OUT {−1, 1, 0, 0}: μ 0, var 0.5; IN: μ 4, pooled IN var = (1 + 1) / 1 = 2.
  EXPECT_NEAR(r.scores[1], log_pdf(2, 4, 2) - log_pdf(2, 0, 0.5), 1e-12);
}

TEST(MiaLira, BadInputsAreErrors) {
  std::vector<std::vector<double>> s = {{-1.0, 0.0}};
  std::vector<std::vector<bool>> in = {{true, false}};
  EXPECT_THROW(lira_scores({0.0, 0.0}, {}, {}, raw(true)), Error);
  EXPECT_THROW(lira_scores({0.0}, s, in, raw(true)), Error);                  // lengths
  std::vector<std::vector<double>> ok = {{-1.0}, {-3.0}, {1.0}, {-1.0}};
  std::vector<std::vector<bool>> ok_in = {{true}, {true}, {false}, {false}};
  EXPECT_NO_THROW(lira_scores({0.0}, ok, ok_in, raw(true)));
  EXPECT_THROW(lira_scores({NAN}, ok, ok_in, raw(true)), Error);              // non-finite
  ok[2][0] = INFINITY;
  EXPECT_THROW(lira_scores({0.0}, ok, ok_in, raw(true)), Error);
  EXPECT_THROW(lira_scores({0.0, 0.0}, s, {{true}}, raw(true)), Error);       // mask length
  // One shadow: every group has a single score, so no variance can be estimated.
  EXPECT_THROW(lira_scores({0.0, 0.0}, s, in, raw(true)), Error);
  LiraOptions bad = raw(true);
  bad.statistic = "logits";
  EXPECT_THROW(lira_scores({0.0, 0.0}, s, in, bad), Error);
}

// A population with per-example difficulty (which a global threshold cannot see) and per-example
// memorization strength (which only the online attack measures): the attacks must order
// online > offline > threshold > chance, at low FPR as well as in AUC.
TEST(MiaLira, SyntheticPopulationOrdersTheAttacks) {
  const int n = 4000, K = 16;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> z(0, 1);
  std::bernoulli_distribution coin(0.5);
  std::vector<double> difficulty(n), strength(n);
  for (int i = 0; i < n; ++i) {
    difficulty[i] = 2 * z(rng);
    strength[i] = 2.5 * std::abs(z(rng));
  }
  auto model = [&](std::vector<bool>& members) {
    std::vector<double> err(n);
    for (int i = 0; i < n; ++i) {
      members[i] = coin(rng);
      err[i] = -(difficulty[i] + (members[i] ? strength[i] : 0) + 0.5 * z(rng));
    }
    return err;
  };
  std::vector<bool> target_members(n);
  auto target = model(target_members);
  std::vector<std::vector<double>> shadows;
  std::vector<std::vector<bool>> masks;
  for (int k = 0; k < K; ++k) {
    masks.emplace_back(n);
    shadows.push_back(model(masks.back()));
  }
  std::vector<double> threshold(n);
  for (int i = 0; i < n; ++i) threshold[i] = -target[i];
  auto on = metrics::roc_curve(lira_scores(target, shadows, masks, raw(true)).scores, target_members);
  auto off = metrics::roc_curve(lira_scores(target, shadows, masks, raw(false)).scores, target_members);
  auto thr = metrics::roc_curve(threshold, target_members);
  EXPECT_GT(on.auc(), off.auc() + 0.02);
  EXPECT_GT(off.auc(), thr.auc() + 0.1);
  EXPECT_GT(thr.auc(), 0.55);
  EXPECT_GT(on.tpr_at_fpr(0.01), off.tpr_at_fpr(0.01));
  EXPECT_GT(off.tpr_at_fpr(0.01), 2 * thr.tpr_at_fpr(0.01));
  EXPECT_GT(off.tpr_at_fpr(0.01), 0.05);  // chance is 0.01
  // Global variance is right here (one noise level for all): about as good as per-example.
  auto glob = metrics::roc_curve(lira_scores(target, shadows, masks, raw(true, true)).scores,
                                 target_members);
  EXPECT_GT(glob.auc(), off.auc());
}

}  // namespace
}  // namespace diffmem::attack
