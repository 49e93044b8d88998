#pragma once
// The threshold protocol (CopyMark's eval → test): an attack's decision threshold is fixed on a
// calibration subset of the examples, and its TPR and FPR are measured on the held-out rest. The
// threshold-free ROC numbers (roc.h) say how well scores rank members; these say what an attacker
// who must commit to a threshold in advance actually gets.
//
// Split: stratified and seeded. Members are shuffled with core::Rng(derive_seed(seed, 0)) and
// non-members with core::Rng(derive_seed(seed, 1)); the first round(fraction · count) of each (at
// least 1, at most count − 1) calibrate, the rest are held out.
// Thresholds: for each target FPR f, the calibration curve's point with the largest TPR among
// FPR ≤ f (roc.h's conservative reading) gives the threshold (score ≥ threshold ⇒ member; +inf
// when only the origin qualifies); one more threshold maximizes the calibration balanced accuracy.
// Held-out rates at a fixed threshold are binomial proportions; their intervals are Wilson score
// intervals (closed form, sensible at 0 and at n, unlike the bootstrap's percentile interval).
#include <cstdint>
#include <string>
#include <vector>

#include "diffmem/io/json.h"
#include "diffmem/metrics/bootstrap.h"

namespace diffmem::metrics {

struct CalibrationOptions {
  double fraction = 0;                   // share of each class that calibrates; (0, 1), 0 = off
  uint64_t seed = 0;
  std::vector<double> fprs = {0.01, 0.001};
  double level = 0.95;                   // of the held-out Wilson intervals
};

DIFFMEM_FIELDS(CalibrationOptions, fraction, seed, fprs, level)

/// Throws diffmem::Error naming --calibrate-on for a fraction outside (0, 1), or a bad FPR/level.
void validate(const CalibrationOptions& options);

/// Wilson score interval of successes / n at the given level; invalid when n = 0.
Interval wilson_interval(uint64_t successes, uint64_t n, double level);

struct CalibratedThreshold {
  std::string target;          // "fpr=0.01", "fpr=0.001", …, or "balanced_accuracy"
  double target_fpr = -1;      // -1 for the balanced-accuracy threshold
  bool measurable = true;      // both subsets have enough non-members for the target FPR
  double threshold = 0;        // +inf: nobody is called a member
  double calibration_tpr = 0;
  double calibration_fpr = 0;
  uint64_t test_true_positives = 0;
  uint64_t test_false_positives = 0;
  double test_tpr = 0;
  double test_fpr = 0;
  Interval test_tpr_ci;
  Interval test_fpr_ci;
};

struct Calibration {
  CalibrationOptions options;
  uint64_t calibration_members = 0;
  uint64_t calibration_nonmembers = 0;
  uint64_t test_members = 0;
  uint64_t test_nonmembers = 0;
  double test_auc = 0;         // the held-out examples' threshold-free AUC
  std::vector<CalibratedThreshold> thresholds;  // the target FPRs in order, then balanced accuracy
};

/// Runs the protocol. scores and is_member as for roc_curve, with at least 2 members and 2
/// non-members (one of each on either side); options validated.
Calibration calibrate(const std::vector<double>& scores, const std::vector<bool>& is_member,
                      const CalibrationOptions& options);

/// Keys: fraction, seed, level, calibration {members, nonmembers}, test {members, nonmembers,
/// auc}, thresholds: [{target, target_fpr (null for balanced accuracy), measurable, threshold
/// (null for +inf), calibration_tpr, calibration_fpr, test_tpr, test_fpr, test_tpr_ci,
/// test_fpr_ci ([low, high]), test_true_positives, test_false_positives}].
void to_json(io::Json& j, const Calibration& c);

}  // namespace diffmem::metrics
