#pragma once
// ROC curves for membership inference: scores where higher means "more likely a member".
//
// Conventions (all functions below share them):
//  * An example is predicted "member" at threshold t iff score >= t. Point i of a curve is the
//    rate pair at thresholds[i]; point 0 is (0, 0) at t = +inf (nobody predicted member), the last
//    point is (1, 1) at t = the smallest score. Tied scores move together: one point per distinct
//    score, so a tie between members and non-members is a diagonal step, never a staircase that
//    depends on input order.
//  * AUC is the trapezoid area under the full curve. With tied scores handled as above this equals
//    the Mann–Whitney statistic U / (P·N) with ties counted half (mann_whitney_auc computes it
//    independently, from midranks).
//  * TPR at a target FPR is the largest TPR among curve points with FPR <= target (no
//    interpolation between points): the conservative reading of Carlini et al.'s LiRA code
//    (`tpr[np.where(fpr < target)[0][-1]]`). That code uses a strict `<`; here a point exactly at
//    the target counts, which only differs when N·target is an integer and a point lands exactly
//    on it. The comparison allows a relative 1e-12, so FPR 1/1000 counts at target 0.001.
//  * Balanced accuracy is the best over thresholds of (TPR + 1 − FPR) / 2, so never below 0.5.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "diffmem/io/json.h"
#include "diffmem/metrics/bootstrap.h"

namespace diffmem::metrics {

struct RocCurve {
  std::vector<double> fpr;         // non-decreasing, fpr[0] = 0, fpr.back() = 1
  std::vector<double> tpr;         // non-decreasing, tpr[0] = 0, tpr.back() = 1
  std::vector<double> thresholds;  // strictly decreasing, thresholds[0] = +inf
  uint64_t positives = 0;          // members (0 when read back from roc.csv: unknown)
  uint64_t negatives = 0;          // non-members (likewise)

  size_t size() const { return fpr.size(); }
  /// Trapezoid area under the curve.
  double auc() const;
  /// Largest TPR among points with FPR <= target_fpr (see the conventions above).
  double tpr_at_fpr(double target_fpr) const;
  /// Index of the point that maximizes TPR − FPR (the first one on ties).
  size_t balanced_accuracy_index() const;
  /// max over points of (TPR + 1 − FPR) / 2.
  double balanced_accuracy() const;
};

/// The full curve. scores and is_member have the same length, at least one member and one
/// non-member; every score must be finite. Throws diffmem::Error otherwise. O(n log n).
RocCurve roc_curve(const std::vector<double>& scores, const std::vector<bool>& is_member);

/// Same curve from the two groups' scores.
RocCurve roc_curve_from_groups(const std::vector<double>& member_scores,
                               const std::vector<double>& nonmember_scores);

/// Mann–Whitney U / (P·N) with tied pairs counted half, computed from midranks (an independent
/// route to the AUC; same input requirements as roc_curve).
double mann_whitney_auc(const std::vector<double>& scores, const std::vector<bool>& is_member);

/// Drops the interior points of purely horizontal or vertical runs. AUC, tpr_at_fpr and balanced
/// accuracy are unchanged (a run's extreme points carry them); the curve gets shorter for plots
/// and CSVs.
RocCurve compact(const RocCurve& curve);

struct FprTpr {
  double fpr = 0;
  double tpr = 0;
};

/// What a run reports about one attack's ROC. A TPR at an FPR that the non-members cannot measure
/// (fpr · nonmembers < 1, bootstrap.h) is NaN: "not measurable", never the TPR at FPR 0 in
/// disguise. When the non-member count is unknown (0: a curve read back from roc.csv) the TPRs are
/// kept as the curve gives them.
struct RocSummary {
  uint64_t members = 0;
  uint64_t nonmembers = 0;
  double auc = 0;
  double tpr_at_fpr_0_1pct = 0;  // TPR at FPR = 0.1%, NaN when not measurable
  double tpr_at_fpr_1pct = 0;    // TPR at FPR = 1%, likewise
  double balanced_accuracy = 0;
  double balanced_accuracy_threshold = 0;  // may be +inf (then the scores carry no signal)
  std::vector<FprTpr> tpr_at_fpr;          // the extra FPRs asked for, in the order asked
  std::optional<RocIntervals> ci;          // bootstrap intervals, when computed
};

/// Summary of a curve, with TPR at each of extra_fprs (each in [0, 1]) as well.
RocSummary summarize(const RocCurve& curve, const std::vector<double>& extra_fprs = {});

/// The curve's summary with bootstrap intervals (bootstrap.h) when bootstrap.resamples > 0;
/// `groups` (one per score, e.g. image ids) makes it a cluster bootstrap over planted copies.
RocSummary summarize(const std::vector<double>& scores, const std::vector<bool>& is_member,
                     const std::vector<double>& extra_fprs, const BootstrapOptions& bootstrap,
                     const std::vector<int64_t>* groups = nullptr);

/// JSON keys: members, nonmembers, auc, tpr_at_fpr_0.001, tpr_at_fpr_0.01 (null when not
/// measurable), balanced_accuracy, balanced_accuracy_threshold (null for +inf),
/// tpr_at_fpr: [{fpr, tpr}, ...]; min_measurable_fpr (1 / nonmembers) and not_measurable (the keys
/// that are null for that reason) when nonmembers is known; with intervals, ci: {level, resamples,
/// seed, method, auc: [low, high], tpr_at_fpr_0.001: [low, high] or null, tpr_at_fpr_0.01,
/// balanced_accuracy, tpr_at_fpr: [[low, high] or null, ...]}.
void to_json(io::Json& j, const RocSummary& s);
/// Throws diffmem::Error naming the missing or mistyped key.
void from_json(const io::Json& j, RocSummary& s);

/// Writes "fpr,tpr,threshold" then one row per point (17 significant digits; +inf as "inf")
/// through an atomic file.
void write_roc_csv(const std::filesystem::path& path, const RocCurve& curve);

/// Reads what write_roc_csv wrote (positives/negatives come back 0). Throws diffmem::Error naming
/// the file and line on a bad header, a bad number, rates outside [0, 1] or a non-monotone curve.
RocCurve read_roc_csv(const std::filesystem::path& path);

}  // namespace diffmem::metrics
