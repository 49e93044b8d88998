#pragma once
// Bootstrap confidence intervals for what a membership attack reports (AUC, TPR at fixed FPRs,
// balanced accuracy, a pointwise band around the ROC curve), and the rule for when a TPR at a low
// FPR can be measured at all. Plain doubles; no torch.
//
// The ROC bootstrap is stratified: each resample draws P members from the P members and N
// non-members from the N non-members, with replacement, so every resample has the original class
// sizes (the usual choice for ROC statistics: the class sizes are fixed by the protocol, not drawn).
// Intervals are percentile intervals (numpy's linear quantiles of the resampled statistics). The
// scores are sorted once; a resample is a vector of draw counts swept over the sorted order, so one
// resample costs O(n) and 1,000 resamples of 2,000 examples take milliseconds.
//
// Resample r draws from core::Rng(core::derive_seed(seed, r)): the same seed gives the same
// interval on every machine, and any one resample can be reproduced alone.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "diffmem/io/fields.h"

namespace diffmem::metrics {

struct BootstrapOptions {
  int64_t resamples = 1000;  // 0 = no intervals
  double level = 0.95;       // in (0, 1)
  uint64_t seed = 0;
};

DIFFMEM_FIELDS(BootstrapOptions, resamples, level, seed)

/// Throws diffmem::Error naming the field for resamples < 0 or level outside (0, 1).
void validate(const BootstrapOptions& options);

struct Interval {
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
  bool valid() const { return std::isfinite(low) && std::isfinite(high); }
};

/// An interval as summary.json shows it: [low, high], or null when it is not valid.
io::Json interval_json(const Interval& i);

/// The ((1 − level)/2, (1 + level)/2) quantiles of the statistics (numpy "linear"), NaNs left out;
/// an invalid interval when no finite statistic is left.
Interval percentile_interval(std::vector<double> statistics, double level);

/// A TPR at FPR `fpr` means something only when the FPR allows at least one false positive:
/// fpr · negatives ≥ 1 (relative slack 1e-9, so 0.001 · 1000 counts). Below that the "TPR at FPR"
/// is the TPR at FPR 0, whatever the target, and is reported as not measurable.
bool fpr_measurable(double fpr, uint64_t negatives);

/// The smallest FPR at which a TPR is measurable with this many non-members: 1 / negatives.
double min_measurable_fpr(uint64_t negatives);

struct RocIntervals {
  BootstrapOptions options;
  bool clustered = false;            // rows resampled by group (planted copies together)
  Interval auc;
  Interval tpr_at_fpr_0_1pct;        // invalid where not measurable
  Interval tpr_at_fpr_1pct;          // likewise
  Interval balanced_accuracy;
  std::vector<Interval> tpr_at_fpr;  // one per extra FPR, in the order asked
  // A pointwise band around the curve: at each band_fpr (log-spaced from the smallest measurable
  // FPR to 1), the interval of the TPR at that FPR.
  std::vector<double> band_fpr;
  std::vector<double> band_low;
  std::vector<double> band_high;
};

/// Stratified percentile bootstrap of the ROC statistics (conventions of roc.h: score >= t is
/// "member", TPR at FPR is the conservative step). scores and is_member as for roc_curve (finite
/// scores, at least one member and one non-member); options validated. With resamples = 0 every
/// interval is invalid and the band empty.
/// `groups` (optional, one per score): rows sharing a group and a class — planted copies of one
/// image — are resampled together (a cluster bootstrap), so an image copied 16 times is one draw,
/// not 16 independent ones that would narrow the interval by up to 4×.
RocIntervals bootstrap_roc(const std::vector<double>& scores, const std::vector<bool>& is_member,
                           const std::vector<double>& extra_fprs, const BootstrapOptions& options,
                           const std::vector<int64_t>* groups = nullptr);

/// Rates of "items hit by at least one draw" (extraction: training images matched by at least one
/// extracted generation), with a two-level bootstrap that carries both sources of chance: the
/// draws (generations) are resampled with replacement, and inside each stratum (e.g. the images
/// planted k times) the items are resampled with replacement; a resample's rate is the share of its
/// drawn items hit by one of its drawn draws. hit_of_draw[g] is the item draw g hit (-1 = none);
/// strata[s] lists stratum s's items (distinct). Returns one interval per stratum (invalid for an
/// empty stratum, and all invalid with resamples = 0). Cost: resamples × (draws + items).
/// "Hit by at least one draw" is not a smooth statistic: a resample of G draws holds about 0.63·G
/// distinct ones, so items hit once drop out of a third of the resamples and the interval leans
/// low (the estimate sits near its top). The upper end is the informative one.
std::vector<Interval> bootstrap_hit_rates(const std::vector<int64_t>& hit_of_draw,
                                          const std::vector<std::vector<int64_t>>& strata,
                                          const BootstrapOptions& options);

/// Writes "fpr,tpr_low,tpr_high" (17 significant digits) through an atomic file.
void write_roc_band_csv(const std::string& path, const RocIntervals& intervals);

struct RocBand {
  std::vector<double> fpr, low, high;
};

/// Reads what write_roc_band_csv wrote; throws diffmem::Error naming the file and line on a bad
/// header, a bad number or rates outside [0, 1] or low > high.
RocBand read_roc_band_csv(const std::string& path);

}  // namespace diffmem::metrics
