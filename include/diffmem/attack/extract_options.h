#pragma once
// The options of white-box extraction (extract.h), torch-free, with their field list
// (io/fields.h). `reuse` is how a run treats its cache, not part of the result, so it is not a
// field (options.json and the shard keys never hold it).
#include <cstdint>
#include <optional>
#include <string>

#include "diffmem/io/fields.h"
#include "diffmem/metrics/bootstrap.h"
#include "diffmem/search/search_options.h"

namespace diffmem::attack {

struct ExtractOptions {
  double delta = 0.15;                        ///< normalized ℓ2 at or below which = extracted
  std::optional<double> calibrated_threshold; ///< when set: calibrated ℓ2 ≤ it decides instead
  double alpha = 0.5;                         ///< calibrated ℓ2's scale (paper: 0.5)
  /// Neighbours in the calibrated ℓ2's mean (paper: 50); capped at the training set's size.
  /// 0 = no calibrated ℓ2 (only the nearest image is searched).
  int64_t n_calibration = 50;
  int64_t tiles = 4;                          ///< tiled ℓ2 grid per side
  search::KnnOptions knn;                     ///< block sizes, recheck; k is set from n_calibration
  int64_t top_pairs_png = 32;                 ///< pairs in pairs.png (0 = no PNG)
  /// pairs.png shows each training image once (with its closest generation); false = the
  /// closest generations whatever they hit.
  bool pairs_distinct = true;
  int64_t pairs_per_row = 4;
  int64_t histogram_bins = 50;
  std::string device = "cpu";                 ///< where the training set and search live
  bool reuse = true;                          ///< reuse cached shard results (resume)
  /// With several ranks: each rank holds only its part of the training set (N/ranks rows) and
  /// searches it for every generation; the ranks' nearest are merged (same outputs as one
  /// process). Off: every rank holds the whole set and searches its own shards. Like `reuse`, not
  /// in the field list: it changes how the numbers are computed, not what they are.
  bool split_train = false;
  /// Intervals of the extraction rates: generations and, per duplicate count, images resampled.
  metrics::BootstrapOptions bootstrap;
};

DIFFMEM_VISIT_FIELDS(ExtractOptions) {
  v("delta", o.delta);
  v("calibrated_threshold", o.calibrated_threshold);
  v("alpha", o.alpha);
  v("n_calibration", o.n_calibration);
  v("tiles", o.tiles);
  v("knn", o.knn);
  v("top_pairs_png", o.top_pairs_png);
  v("pairs_distinct", o.pairs_distinct);
  v("pairs_per_row", o.pairs_per_row);
  v("histogram_bins", o.histogram_bins);
  v("device", o.device);
  v("bootstrap", o.bootstrap);
  v.note("distance", "normalized l2 = sqrt(mean((a-b)^2)) on pixels in [0,1]");
}

/// Throws diffmem::Error naming the flag for an unusable value.
void validate(const ExtractOptions& options);

}  // namespace diffmem::attack
