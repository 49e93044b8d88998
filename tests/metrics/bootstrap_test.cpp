#include "diffmem/metrics/bootstrap.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/metrics/gaussian.h"
#include "diffmem/metrics/roc.h"
#include "test_support.h"

using namespace diffmem;
using namespace diffmem::metrics;
namespace fs = std::filesystem;

namespace {

double normal(core::Rng& rng) {
  const double u1 = 1 - rng.uniform(), u2 = rng.uniform();
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

// Members ~ N(mu, 1), non-members ~ N(0, 1).
void gaussian_scores(uint64_t seed, size_t p, size_t n, double mu, std::vector<double>& scores,
                     std::vector<bool>& member) {
  core::Rng rng(seed);
  scores.clear();
  member.clear();
  for (size_t i = 0; i < p; ++i) scores.push_back(normal(rng) + mu), member.push_back(true);
  for (size_t i = 0; i < n; ++i) scores.push_back(normal(rng)), member.push_back(false);
}

// DeLong et al. (1988): the AUC's variance from its structural components (ties count half).
double delong_variance(const std::vector<double>& s, const std::vector<bool>& m) {
  std::vector<double> pos, neg;
  for (size_t i = 0; i < s.size(); ++i) (m[i] ? pos : neg).push_back(s[i]);
  const double P = pos.size(), N = neg.size();
  std::vector<double> v10(pos.size(), 0), v01(neg.size(), 0);
  for (size_t i = 0; i < pos.size(); ++i)
    for (size_t j = 0; j < neg.size(); ++j) {
      const double psi = pos[i] > neg[j] ? 1 : pos[i] == neg[j] ? 0.5 : 0;
      v10[i] += psi / N;
      v01[j] += psi / P;
    }
  double auc = 0;
  for (double v : v10) auc += v / P;
  double s10 = 0, s01 = 0;
  for (double v : v10) s10 += (v - auc) * (v - auc) / (P - 1);
  for (double v : v01) s01 += (v - auc) * (v - auc) / (N - 1);
  return s10 / P + s01 / N;
}

// Hanley & McNeil (1982): the AUC's variance from the AUC and the class sizes alone.
double hanley_mcneil_variance(double a, double P, double N) {
  const double q1 = a / (2 - a), q2 = 2 * a * a / (1 + a);
  return (a * (1 - a) + (P - 1) * (q1 - a * a) + (N - 1) * (q2 - a * a)) / (P * N);
}

}  // namespace

// The bootstrap's AUC interval against the two closed forms on Gaussian scores: its width is
// 2 · z · SE to within 12% of DeLong's and Hanley–McNeil's standard errors.
TEST(Bootstrap, AucIntervalMatchesDeLongAndHanleyMcNeil) {
  for (double mu : {0.5, 1.0, 2.0}) {
    std::vector<double> s;
    std::vector<bool> m;
    gaussian_scores(core::derive_seed(3, uint64_t(mu * 10)), 400, 300, mu, s, m);
    BootstrapOptions o;
    o.resamples = 4000;
    const RocIntervals iv = bootstrap_roc(s, m, {}, o);
    const double auc = roc_curve(s, m).auc();
    const double z = normal_quantile(0.975);
    const double width = iv.auc.high - iv.auc.low;
    const double delong = 2 * z * std::sqrt(delong_variance(s, m));
    const double hm = 2 * z * std::sqrt(hanley_mcneil_variance(auc, 400, 300));
    EXPECT_NEAR(width / delong, 1.0, 0.12) << "mu " << mu << " width " << width << " DeLong " << delong;
    EXPECT_NEAR(width / hm, 1.0, 0.12) << "mu " << mu << " width " << width << " H-M " << hm;
    EXPECT_LT(iv.auc.low, auc);
    EXPECT_GT(iv.auc.high, auc);
  }
}

// Over many data sets drawn from one model, the 95% interval covers the true AUC Φ(μ/√2) about
// 95% of the time (binomial s.d. over 300 trials: 1.3%).
TEST(Bootstrap, AucIntervalCoversTheTrueAuc) {
  const double mu = 1.0, truth = normal_cdf(mu / std::sqrt(2.0));
  int covered = 0;
  const int trials = 300;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> s;
    std::vector<bool> m;
    gaussian_scores(core::derive_seed(17, uint64_t(t)), 100, 100, mu, s, m);
    BootstrapOptions o;
    o.resamples = 400;
    o.seed = uint64_t(t);
    const Interval i = bootstrap_roc(s, m, {}, o).auc;
    covered += i.low <= truth && truth <= i.high;
  }
  EXPECT_GE(covered, int(0.90 * trials));
  EXPECT_LE(covered, int(0.99 * trials));
}

// TPR at 10% FPR on a large sample: the interval holds the estimate and the closed-form TPR
// 1 − Φ(Φ⁻¹(0.9) − μ); its width is near the binomial one.
TEST(Bootstrap, TprIntervalHoldsTheClosedForm) {
  std::vector<double> s;
  std::vector<bool> m;
  gaussian_scores(5, 3000, 3000, 1.5, s, m);
  BootstrapOptions o;
  o.resamples = 1000;
  const RocSummary sum = summarize(s, m, {0.1}, o);
  ASSERT_TRUE(sum.ci);
  const Interval i = sum.ci->tpr_at_fpr.at(0);
  const double truth = 1 - normal_cdf(normal_quantile(0.9) - 1.5);
  EXPECT_LE(i.low, sum.tpr_at_fpr[0].tpr);
  EXPECT_GE(i.high, sum.tpr_at_fpr[0].tpr);
  EXPECT_LE(i.low, truth);
  EXPECT_GE(i.high, truth);
  // Binomial TPR noise plus the threshold's own noise: wider than the binomial alone, < 2.5×.
  const double binom = 2 * 1.96 * std::sqrt(truth * (1 - truth) / 3000);
  EXPECT_GT(i.high - i.low, binom);
  EXPECT_LT(i.high - i.low, 2.5 * binom);
  // The band is ordered and brackets most of the observed curve.
  const RocCurve c = roc_curve(s, m);
  int inside = 0;
  for (size_t k = 0; k < sum.ci->band_fpr.size(); ++k) {
    EXPECT_LE(sum.ci->band_low[k], sum.ci->band_high[k]);
    const double t = c.tpr_at_fpr(sum.ci->band_fpr[k]);
    inside += sum.ci->band_low[k] <= t && t <= sum.ci->band_high[k];
  }
  EXPECT_GE(inside, int(0.9 * sum.ci->band_fpr.size()));
  EXPECT_DOUBLE_EQ(sum.ci->band_fpr.front(), 1.0 / 3000);
  EXPECT_DOUBLE_EQ(sum.ci->band_fpr.back(), 1.0);
}

// 64 non-members cannot measure a TPR at 1% FPR (0.64 false positives): NaN, null in JSON, listed
// as not measurable, no interval. 100 can.
TEST(Bootstrap, TprBelowOneNonMemberIsNotMeasurable) {
  EXPECT_FALSE(fpr_measurable(0.01, 64));
  EXPECT_TRUE(fpr_measurable(0.01, 100));
  EXPECT_TRUE(fpr_measurable(0.001, 1000));
  EXPECT_FALSE(fpr_measurable(0.001, 999));
  std::vector<double> s;
  std::vector<bool> m;
  gaussian_scores(9, 90, 64, 2.0, s, m);
  const RocSummary few = summarize(s, m, {0.05}, {});
  EXPECT_TRUE(std::isnan(few.tpr_at_fpr_1pct));
  EXPECT_TRUE(std::isnan(few.tpr_at_fpr_0_1pct));
  EXPECT_FALSE(std::isnan(few.tpr_at_fpr[0].tpr));  // 5% of 64 = 3.2 false positives
  ASSERT_TRUE(few.ci);
  EXPECT_FALSE(few.ci->tpr_at_fpr_1pct.valid());
  EXPECT_TRUE(few.ci->tpr_at_fpr.at(0).valid());
  io::Json j;
  to_json(j, few);
  EXPECT_TRUE(j["tpr_at_fpr_0.01"].is_null());
  EXPECT_TRUE(j["ci"]["tpr_at_fpr_0.01"].is_null());
  EXPECT_EQ(j["not_measurable"], io::Json::array({"tpr_at_fpr_0.001", "tpr_at_fpr_0.01"}));
  EXPECT_DOUBLE_EQ(j["min_measurable_fpr"].get<double>(), 1.0 / 64);
  RocSummary back;
  from_json(j, back);
  EXPECT_TRUE(std::isnan(back.tpr_at_fpr_1pct));
  ASSERT_TRUE(back.ci);
  EXPECT_DOUBLE_EQ(back.ci->auc.low, few.ci->auc.low);
  EXPECT_FALSE(back.ci->tpr_at_fpr_1pct.valid());

  gaussian_scores(9, 90, 100, 2.0, s, m);
  const RocSummary enough = summarize(s, m, {}, {});
  EXPECT_FALSE(std::isnan(enough.tpr_at_fpr_1pct));
  EXPECT_TRUE(enough.ci->tpr_at_fpr_1pct.valid());
}

TEST(Bootstrap, SeededAndReproducible) {
  std::vector<double> s;
  std::vector<bool> m;
  gaussian_scores(1, 50, 60, 1.0, s, m);
  BootstrapOptions a;
  a.resamples = 200;
  const RocIntervals x = bootstrap_roc(s, m, {}, a), y = bootstrap_roc(s, m, {}, a);
  EXPECT_EQ(x.auc.low, y.auc.low);
  EXPECT_EQ(x.auc.high, y.auc.high);
  a.seed = 1;
  const RocIntervals z = bootstrap_roc(s, m, {}, a);
  EXPECT_NE(x.auc.low, z.auc.low);
  a.resamples = 0;
  const RocIntervals none = bootstrap_roc(s, m, {}, a);
  EXPECT_FALSE(none.auc.valid());
  EXPECT_TRUE(none.band_fpr.empty());
  EXPECT_FALSE(summarize(s, m, {}, a).ci.has_value());
}

// Ties between members and non-members resample as one ROC point: all-equal scores give AUC 0.5
// in every resample.
TEST(Bootstrap, TiesStayDiagonal) {
  std::vector<double> s(20, 0.3);
  std::vector<bool> m(20, false);
  for (int i = 0; i < 10; ++i) m[i] = true;
  const RocIntervals iv = bootstrap_roc(s, m, {}, {});
  EXPECT_DOUBLE_EQ(iv.auc.low, 0.5);
  EXPECT_DOUBLE_EQ(iv.auc.high, 0.5);
}

TEST(Bootstrap, BadInputNamesTheProblem) {
  std::vector<double> s = {0.1, 0.2};
  std::vector<bool> m = {true, false};
  BootstrapOptions o;
  o.level = 1.0;
  EXPECT_NE(test::error_of([&] { bootstrap_roc(s, m, {}, o); }).find("bootstrap.level"), std::string::npos);
  o = {};
  o.resamples = -1;
  EXPECT_NE(test::error_of([&] { bootstrap_roc(s, m, {}, o); }).find("bootstrap.resamples"), std::string::npos);
  EXPECT_NE(test::error_of([&] { bootstrap_roc({0.1, NAN}, m, {}, {}); }).find("scores[1]"), std::string::npos);
  EXPECT_NE(test::error_of([&] { bootstrap_roc(s, {true, true}, {}, {}); }).find("at least one member and one non-member"), std::string::npos);
}

TEST(Bootstrap, BandCsvRoundTripsAndRejectsBadRows) {
  test::TempDir dir;
  std::vector<double> s;
  std::vector<bool> m;
  gaussian_scores(2, 40, 40, 1.0, s, m);
  const RocIntervals iv = bootstrap_roc(s, m, {}, {});
  const std::string p = (dir.path() / "band.csv").string();
  write_roc_band_csv(p, iv);
  const RocBand b = read_roc_band_csv(p);
  ASSERT_EQ(b.fpr.size(), iv.band_fpr.size());
  EXPECT_DOUBLE_EQ(b.low[3], iv.band_low[3]);
  std::ofstream(p) << "fpr,tpr_low,tpr_high\n0.1,0.5,0.4\n";
  EXPECT_NE(test::error_of([&] { read_roc_band_csv(p); }).find("band.csv:2"), std::string::npos);
  std::ofstream(p) << "fpr,low\n";
  EXPECT_NE(test::error_of([&] { read_roc_band_csv(p); }).find("band.csv:1"), std::string::npos);
}

// Extraction rates: with every generation hitting one of 10 items, a stratum of those items has
// rate 1 in every resample only if each is hit often; items hit once drop out of about e⁻¹ of
// generation resamples (the chance a given draw is never redrawn), and the interval says so.
TEST(Bootstrap, HitRatesCarryGenerationAndImageChance) {
  std::vector<int64_t> hits;
  for (int k = 0; k < 50; ++k) hits.push_back(1);  // item 1 hit 50 times
  hits.push_back(2);                                // item 2 once
  for (int k = 0; k < 200; ++k) hits.push_back(-1); // the rest of the generations hit nothing
  BootstrapOptions o;
  o.resamples = 2000;
  const auto iv = bootstrap_hit_rates(hits, {{1}, {2}, {3, 4}, {}, {1, 3}}, o);
  EXPECT_DOUBLE_EQ(iv[0].low, 1.0);  // 50 hits: never lost
  EXPECT_DOUBLE_EQ(iv[0].high, 1.0);
  EXPECT_DOUBLE_EQ(iv[1].low, 0.0);  // one hit: lost in ~37% of resamples
  EXPECT_DOUBLE_EQ(iv[1].high, 1.0);
  EXPECT_DOUBLE_EQ(iv[2].high, 0.0);  // never hit
  EXPECT_FALSE(iv[3].valid());        // empty stratum
  EXPECT_DOUBLE_EQ(iv[4].low, 0.0);   // {1, 3}: 1/2 observed; resampling the two items: 0 to 1
  EXPECT_DOUBLE_EQ(iv[4].high, 1.0);
  o.resamples = 0;
  EXPECT_FALSE(bootstrap_hit_rates(hits, {{1}}, o)[0].valid());
}

// Planted copies: every image appears 9 times with one score. A row bootstrap treats the 9 rows
// as independent and narrows the AUC interval about 3×; resampled by image (cluster bootstrap) the
// interval is the one of the 30 + 30 distinct images.
TEST(Bootstrap, CopiesOfOneImageAreResampledTogether) {
  std::vector<double> s;
  std::vector<bool> m;
  gaussian_scores(8, 30, 30, 1.0, s, m);
  std::vector<double> rows;
  std::vector<bool> rows_member;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < s.size(); ++i)
    for (int k = 0; k < 9; ++k) rows.push_back(s[i]), rows_member.push_back(m[i]), ids.push_back(int64_t(i));
  BootstrapOptions o;
  o.resamples = 3000;
  const Interval distinct = bootstrap_roc(s, m, {}, o).auc;
  const Interval naive = bootstrap_roc(rows, rows_member, {}, o).auc;
  const RocIntervals clustered = bootstrap_roc(rows, rows_member, {}, o, &ids);
  EXPECT_TRUE(clustered.clustered);
  const double w = distinct.high - distinct.low;
  EXPECT_NEAR((clustered.auc.high - clustered.auc.low) / w, 1.0, 0.1);
  EXPECT_LT(naive.high - naive.low, 0.5 * w);
  RocSummary sum = summarize(rows, rows_member, {}, o, &ids);
  io::Json j;
  to_json(j, sum);
  EXPECT_NE(j["ci"]["method"].get<std::string>().find("copies"), std::string::npos);
  std::vector<int64_t> short_ids(3, 0);
  EXPECT_NE(test::error_of([&] { bootstrap_roc(rows, rows_member, {}, o, &short_ids); }).find("one group per score"),
            std::string::npos);
}
