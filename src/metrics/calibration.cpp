#include "diffmem/metrics/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "diffmem/core/error.h"
#include "diffmem/core/format.h"
#include "diffmem/core/rng.h"
#include "diffmem/metrics/gaussian.h"
#include "diffmem/metrics/roc.h"

namespace diffmem::metrics {
namespace {

// The calibrating share of one class: round(fraction · n), at least 1 and at most n − 1.
size_t calibrating(size_t n, double fraction) {
  const auto k = static_cast<size_t>(std::llround(fraction * static_cast<double>(n)));
  return std::clamp<size_t>(k, 1, n - 1);
}

}  // namespace

void validate(const CalibrationOptions& o) {
  check(o.fraction > 0 && o.fraction < 1, "--calibrate-on", "a fraction in (0, 1)", core::exact_number(o.fraction));
  check(o.level > 0 && o.level < 1, "calibration.level", "a confidence level in (0, 1)", core::exact_number(o.level));
  for (double f : o.fprs) check(f > 0 && f < 1, "calibration.fprs", "target FPRs in (0, 1)", core::exact_number(f));
}

Interval wilson_interval(uint64_t successes, uint64_t n, double level) {
  check(level > 0 && level < 1, "wilson_interval", "a level in (0, 1)", core::exact_number(level));
  check(successes <= n, "wilson_interval", "successes <= n (" + std::to_string(n) + ")",
        std::to_string(successes));
  if (n == 0) return {};
  const double z = normal_quantile((1 + level) / 2), nn = static_cast<double>(n);
  const double p = static_cast<double>(successes) / nn, z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  // At 0 and at n the interval touches the boundary exactly (rounding would leave 1e-17).
  return {successes == 0 ? 0.0 : std::max(0.0, centre - half), successes == n ? 1.0 : std::min(1.0, centre + half)};
}

Calibration calibrate(const std::vector<double>& scores, const std::vector<bool>& is_member,
                      const CalibrationOptions& options) {
  validate(options);
  check(scores.size() == is_member.size(), "calibrate", "as many labels as scores (" +
        std::to_string(scores.size()) + ")", std::to_string(is_member.size()) + " labels");
  std::vector<size_t> members, nonmembers;
  for (size_t i = 0; i < scores.size(); ++i) (is_member[i] ? members : nonmembers).push_back(i);
  check(members.size() >= 2 && nonmembers.size() >= 2, "--calibrate-on",
        "at least 2 members and 2 non-members to split", std::to_string(members.size()) + " members and " +
        std::to_string(nonmembers.size()) + " non-members");
  core::Rng(core::derive_seed(options.seed, 0)).shuffle(members);
  core::Rng(core::derive_seed(options.seed, 1)).shuffle(nonmembers);
  const size_t cm = calibrating(members.size(), options.fraction);
  const size_t cn = calibrating(nonmembers.size(), options.fraction);

  std::vector<double> cal_scores, test_scores;
  std::vector<bool> cal_member, test_member;
  auto put = [&](const std::vector<size_t>& idx, size_t k, bool member) {
    for (size_t j = 0; j < idx.size(); ++j) {
      (j < k ? cal_scores : test_scores).push_back(scores[idx[j]]);
      (j < k ? cal_member : test_member).push_back(member);
    }
  };
  put(members, cm, true);
  put(nonmembers, cn, false);

  Calibration c;
  c.options = options;
  c.calibration_members = cm;
  c.calibration_nonmembers = cn;
  c.test_members = members.size() - cm;
  c.test_nonmembers = nonmembers.size() - cn;
  const RocCurve cal = roc_curve(cal_scores, cal_member);
  c.test_auc = roc_curve(test_scores, test_member).auc();

  auto at_threshold = [&](CalibratedThreshold& t, size_t point) {
    t.threshold = cal.thresholds[point];
    t.calibration_tpr = cal.tpr[point];
    t.calibration_fpr = cal.fpr[point];
    for (size_t i = 0; i < test_scores.size(); ++i)
      if (test_scores[i] >= t.threshold) (test_member[i] ? t.test_true_positives : t.test_false_positives) += 1;
    t.test_tpr = double(t.test_true_positives) / double(c.test_members);
    t.test_fpr = double(t.test_false_positives) / double(c.test_nonmembers);
    t.test_tpr_ci = wilson_interval(t.test_true_positives, c.test_members, options.level);
    t.test_fpr_ci = wilson_interval(t.test_false_positives, c.test_nonmembers, options.level);
  };
  for (double f : options.fprs) {
    CalibratedThreshold t;
    t.target = "fpr=" + core::exact_number(f);
    t.target_fpr = f;
    t.measurable = fpr_measurable(f, cn) && fpr_measurable(f, c.test_nonmembers);
    size_t point = 0;
    for (size_t i = 0; i < cal.size(); ++i)
      if (cal.fpr[i] <= f * (1 + 1e-12)) point = i;
    at_threshold(t, point);
    c.thresholds.push_back(t);
  }
  CalibratedThreshold b;
  b.target = "balanced_accuracy";
  at_threshold(b, cal.balanced_accuracy_index());
  c.thresholds.push_back(b);
  return c;
}

void to_json(io::Json& j, const Calibration& c) {
  io::Json ts = io::Json::array();
  for (const CalibratedThreshold& t : c.thresholds)
    ts.push_back({{"target", t.target},
                  {"target_fpr", t.target_fpr >= 0 ? io::Json(t.target_fpr) : io::Json(nullptr)},
                  {"measurable", t.measurable},
                  {"threshold", std::isfinite(t.threshold) ? io::Json(t.threshold) : io::Json(nullptr)},
                  {"calibration_tpr", t.calibration_tpr},
                  {"calibration_fpr", t.calibration_fpr},
                  {"test_tpr", t.test_tpr},
                  {"test_fpr", t.test_fpr},
                  {"test_tpr_ci", interval_json(t.test_tpr_ci)},
                  {"test_fpr_ci", interval_json(t.test_fpr_ci)},
                  {"test_true_positives", t.test_true_positives},
                  {"test_false_positives", t.test_false_positives}});
  j = {{"fraction", c.options.fraction},
       {"seed", c.options.seed},
       {"level", c.options.level},
       {"interval", "Wilson score"},
       {"calibration", {{"members", c.calibration_members}, {"nonmembers", c.calibration_nonmembers}}},
       {"test", {{"members", c.test_members}, {"nonmembers", c.test_nonmembers}, {"auc", c.test_auc}}},
       {"thresholds", ts}};
}

}  // namespace diffmem::metrics
