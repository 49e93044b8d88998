#include "diffmem/metrics/calibration.h"

#include <gtest/gtest.h>

#include <cmath>

#include "diffmem/core/rng.h"
#include "diffmem/metrics/gaussian.h"
#include "test_support.h"

using namespace diffmem;
using namespace diffmem::metrics;

namespace {

double calibration_normal(core::Rng& rng) {
  const double u1 = 1 - rng.uniform(), u2 = rng.uniform();
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

void calibration_scores(uint64_t seed, size_t p, size_t n, double mu, std::vector<double>& scores,
                     std::vector<bool>& member) {
  core::Rng rng(seed);
  for (size_t i = 0; i < p; ++i) scores.push_back(calibration_normal(rng) + mu), member.push_back(true);
  for (size_t i = 0; i < n; ++i) scores.push_back(calibration_normal(rng)), member.push_back(false);
}

}  // namespace

// Closed form: Wilson's interval for 0 of 10 at 95% is [0, z²/(n + z²)] = [0, 0.2775].
TEST(Calibration, WilsonIntervalMatchesItsClosedForm) {
  const Interval a = wilson_interval(0, 10, 0.95);
  EXPECT_DOUBLE_EQ(a.low, 0.0);
  const double z = normal_quantile(0.975);
  EXPECT_NEAR(a.high, z * z / (10 + z * z), 1e-12);
  // 50 of 100: centre 0.5, half-width z/(1+z²/n)·sqrt(0.25/n + z²/(4n²)) = 0.0962 (tabulated).
  const Interval b = wilson_interval(50, 100, 0.95);
  EXPECT_NEAR(b.low, 0.4038, 1e-4);
  EXPECT_NEAR(b.high, 0.5962, 1e-4);
  EXPECT_FALSE(wilson_interval(0, 0, 0.95).valid());
  EXPECT_NE(test::error_of([] { wilson_interval(3, 2, 0.95); }).find("successes <= n"), std::string::npos);
}

// On Gaussian scores the threshold fixed on half the data gives the target FPR on the other half
// (to within its Wilson interval) and the closed-form TPR 1 − Φ(Φ⁻¹(1 − f) − μ).
TEST(Calibration, HeldOutRatesMatchTheTargetOnGaussianScores) {
  std::vector<double> s;
  std::vector<bool> m;
  calibration_scores(21, 20000, 20000, 2.0, s, m);
  CalibrationOptions o;
  o.fraction = 0.5;
  const Calibration c = calibrate(s, m, o);
  EXPECT_EQ(c.calibration_members, 10000u);
  EXPECT_EQ(c.test_nonmembers, 10000u);
  ASSERT_EQ(c.thresholds.size(), 3u);
  for (int k = 0; k < 2; ++k) {
    const CalibratedThreshold& t = c.thresholds[k];
    EXPECT_TRUE(t.measurable);
    EXPECT_LE(t.calibration_fpr, t.target_fpr);
    // The held-out FPR misses the target by the calibration's and the test's sampling noise
    // together (each binomial over 10,000 non-members): within 3.5 of their joint s.d.
    const double sd = std::sqrt(2 * t.target_fpr * (1 - t.target_fpr) / 10000);
    EXPECT_NEAR(t.test_fpr, t.target_fpr, 3.5 * sd) << t.target;
    EXPECT_LE(t.test_fpr_ci.low, t.test_fpr);
    EXPECT_GE(t.test_fpr_ci.high, t.test_fpr);
    const double tpr = 1 - normal_cdf(normal_quantile(1 - t.target_fpr) - 2.0);
    EXPECT_NEAR(t.test_tpr, tpr, k == 0 ? 0.03 : 0.06) << t.target;
    // The threshold is Φ⁻¹(1 − f) up to sampling.
    EXPECT_NEAR(t.threshold, normal_quantile(1 - t.target_fpr), 0.15) << t.target;
  }
  // Balanced accuracy's threshold sits near μ/2, its held-out accuracy near Φ(μ/2).
  const CalibratedThreshold& b = c.thresholds[2];
  EXPECT_EQ(b.target, "balanced_accuracy");
  EXPECT_NEAR(b.threshold, 1.0, 0.3);
  EXPECT_NEAR((b.test_tpr + 1 - b.test_fpr) / 2, normal_cdf(1.0), 0.01);
  EXPECT_NEAR(c.test_auc, normal_cdf(2.0 / std::sqrt(2.0)), 0.01);
}

// The threshold depends on the calibration subset alone: changing every held-out score leaves it
// where it was, and the held-out rates follow the new scores.
TEST(Calibration, ThresholdsComeFromTheCalibrationSubsetOnly) {
  std::vector<double> s;
  std::vector<bool> m;
  calibration_scores(4, 300, 300, 1.0, s, m);
  CalibrationOptions o;
  o.fraction = 0.3;
  o.seed = 7;
  const Calibration a = calibrate(s, m, o);
  // Find which examples were held out: moving a calibrating score moves some threshold or rate
  // on the calibration side; moving a held-out one cannot change any threshold.
  std::vector<double> shifted = s;
  // Members and non-members shuffled as calibrate() does.
  std::vector<size_t> mem, non;
  for (size_t i = 0; i < s.size(); ++i) (m[i] ? mem : non).push_back(i);
  core::Rng(core::derive_seed(7, 0)).shuffle(mem);
  core::Rng(core::derive_seed(7, 1)).shuffle(non);
  for (size_t j = 90; j < mem.size(); ++j) shifted[mem[j]] += 100;  // held-out members score high
  for (size_t j = 90; j < non.size(); ++j) shifted[non[j]] -= 100;  // held-out non-members low
  const Calibration b = calibrate(shifted, m, o);
  for (size_t k = 0; k < a.thresholds.size(); ++k) {
    EXPECT_EQ(a.thresholds[k].threshold, b.thresholds[k].threshold);
    EXPECT_EQ(a.thresholds[k].calibration_tpr, b.thresholds[k].calibration_tpr);
    EXPECT_DOUBLE_EQ(b.thresholds[k].test_tpr, 1.0);
    EXPECT_DOUBLE_EQ(b.thresholds[k].test_fpr, 0.0);
  }
  EXPECT_DOUBLE_EQ(b.test_auc, 1.0);
}

// 0.1% FPR needs 1,000 non-members on each side: with 300 it is marked not measurable.
TEST(Calibration, SmallSubsetsAreMarkedAndBadOptionsNamed) {
  std::vector<double> s;
  std::vector<bool> m;
  calibration_scores(5, 300, 300, 1.0, s, m);
  CalibrationOptions o;
  o.fraction = 0.5;
  const Calibration c = calibrate(s, m, o);
  EXPECT_TRUE(c.thresholds[0].measurable);   // 1% of 150 = 1.5
  EXPECT_FALSE(c.thresholds[1].measurable);  // 0.1% of 150
  io::Json j;
  to_json(j, c);
  EXPECT_EQ(j["thresholds"][1]["measurable"], false);
  EXPECT_TRUE(j["thresholds"][2]["target_fpr"].is_null());
  EXPECT_EQ(j["calibration"]["members"], 150);
  o.fraction = 1.0;
  EXPECT_NE(test::error_of([&] { calibrate(s, m, o); }).find("--calibrate-on"), std::string::npos);
  o.fraction = 0.5;
  EXPECT_NE(test::error_of([&] { calibrate({1, 2, 3}, {true, false, false}, o); }).find("at least 2 members"),
            std::string::npos);
}
