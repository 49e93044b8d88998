#pragma once
// Self-contained inline SVG charts for the HTML report: no scripts, no external fonts or files, all
// text escaped, so a chart is a string that can be pasted into a page or written as a .svg file.
// Each writer returns one <svg> element (well-formed XML, xmlns set). Colours follow the Okabe–Ito
// palette (distinguishable with colour-vision deficiencies), series in the order given.
#include <optional>
#include <string>
#include <vector>

#include "diffmem/metrics/histogram.h"
#include "diffmem/metrics/roc.h"

namespace diffmem::report {

struct RocSeries {
  std::string name;  // legend text (escaped when written)
  metrics::RocCurve curve;
  std::optional<metrics::RocBand> band = std::nullopt;  // a pointwise interval, drawn translucent
};

struct RocPlotOptions {
  int width = 440;
  int height = 400;
  std::string title;
  std::string x_label = "False positive rate";
  std::string y_label = "True positive rate";
  /// Lower end of both log axes (the upper end is 1). 0 picks it: 1e-4, or the decade at or below
  /// 1/N when there are fewer than 10⁴ non-members (N from the curve, or from its smallest nonzero
  /// FPR when the counts are unknown) so no axis decade is empty by construction.
  double min_rate = 0;
  bool chance_line = true;  // the diagonal TPR = FPR of a guessing attacker
};

/// Log–log ROC plot (the membership-inference figure style of Carlini et al.): decade ticks and
/// labels, the chance diagonal, a legend. Rates below the axis minimum (including 0) are drawn on
/// the axis edge; points closer than half a pixel to the previous one are merged, so a 400k-point
/// curve stays a few kilobytes. Throws diffmem::Error for a curve with mismatched fpr/tpr lengths
/// or a min_rate outside (0, 1).
std::string roc_svg(const std::vector<RocSeries>& curves, const RocPlotOptions& options = {});

struct HistogramSeries {
  std::string name;
  metrics::Histogram histogram;
};

struct HistogramPlotOptions {
  int width = 480;
  int height = 320;
  std::string title;
  std::string x_label;
  std::string y_label = "count";
  bool density = false;              // plot densities (comparable across sample sizes)
  std::optional<double> threshold;   // a vertical line, e.g. the extraction threshold δ
  std::string threshold_label;       // default "threshold = <value>"
};

/// Overlaid histograms (translucent step areas) on a linear x axis covering every series' range
/// and the threshold. Throws diffmem::Error for a histogram with no bins or a non-finite threshold.
std::string histogram_svg(const std::vector<HistogramSeries>& series,
                          const HistogramPlotOptions& options = {});

struct ChartSeries {
  std::string name;
  std::vector<double> x;  // e.g. duplicate count
  std::vector<double> y;  // e.g. extraction rate
};

enum class ChartKind { kLine, kBar };

struct ChartOptions {
  int width = 480;
  int height = 320;
  std::string title;
  std::string x_label;
  std::string y_label;
  ChartKind kind = ChartKind::kLine;
  bool log_x = false;             // lines only; x must then be > 0
  std::optional<double> y_min;    // default 0
  std::optional<double> y_max;    // default: a round number at or above the largest y
};

/// Lines with point markers on a numeric x axis, or grouped bars with one slot per distinct x
/// (labelled with its value). Throws diffmem::Error naming the series when x and y differ in length,
/// a value is not finite, or log_x meets x <= 0.
std::string chart_svg(const std::vector<ChartSeries>& series, const ChartOptions& options = {});

}  // namespace diffmem::report
