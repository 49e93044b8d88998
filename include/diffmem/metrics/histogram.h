#pragma once
// Fixed-bin histograms (distance and loss distributions for the report) and quantiles. Binning and
// quantiles follow numpy (np.histogram with a range, np.quantile's default "linear" method), so a
// histogram diffmem writes can be checked against numpy bin for bin.
#include <cstdint>
#include <optional>
#include <vector>

#include "diffmem/io/fields.h"

namespace diffmem::metrics {

struct HistogramOptions {
  int64_t bins = 50;          // >= 1
  std::optional<double> lo;   // range start; default: the smallest finite value
  std::optional<double> hi;   // range end; default: the largest finite value
};

DIFFMEM_FIELDS(HistogramOptions, bins, lo, hi)

struct Histogram {
  double lo = 0;
  double hi = 1;
  std::vector<uint64_t> counts;  // bin i is [edge(i), edge(i+1)); the last bin also holds hi
  uint64_t below = 0;            // values < lo (np.histogram drops them; kept here to be seen)
  uint64_t above = 0;            // values > hi
  uint64_t nan = 0;              // NaN values, never binned

  int64_t bins() const { return static_cast<int64_t>(counts.size()); }
  /// np.linspace(lo, hi, bins + 1)[i].
  double edge(int64_t i) const;
  double center(int64_t i) const { return (edge(i) + edge(i + 1)) / 2; }
  /// Values inside [lo, hi].
  uint64_t total() const;
  /// counts / (total · bin width), like np.histogram(density=True); all zero when total is 0.
  std::vector<double> density() const;
};

/// Bins the values. Without lo/hi the range is [min, max] of the finite values (widened by 0.5 on
/// each side when they are equal, or [0, 1] when there are none), as numpy does. Throws
/// diffmem::Error for bins < 1, lo > hi or a non-finite lo/hi.
Histogram histogram(const std::vector<double>& values, const HistogramOptions& options = {});

void to_json(io::Json& j, const Histogram& h);
void from_json(const io::Json& j, Histogram& h);

/// np.quantile(values, q) (method "linear"): the order statistic at position q·(n − 1), linearly
/// interpolated. Throws for empty input, NaN values or q outside [0, 1].
double quantile(std::vector<double> values, double q);
/// Several quantiles with one sort.
std::vector<double> quantiles(std::vector<double> values, const std::vector<double>& qs);
/// quantile(values, 0.5).
double median(std::vector<double> values);

}  // namespace diffmem::metrics
