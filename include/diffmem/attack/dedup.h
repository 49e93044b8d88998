#pragma once
// Near-duplicates inside one set (Carlini et al. §5.1's duplication analysis and its mitigation:
// train on the deduplicated set and compare extraction). Rows are images (normalized ℓ2 on pixels
// in [0,1]) or precomputed embeddings (float32 N×D; normalized ℓ2, or cosine similarity of the
// L2-normalized rows). Each row's k nearest other rows come from the same search::KnnIndex as
// extraction (base = query, the row itself dropped); pairs within the threshold are edges, groups
// are the connected components (union-find), and a row's duplicate count is its group's size.
//
// Because each row only looks at its k nearest, a row with more than k near-duplicates reports k
// of its pairs; its group is still complete as long as the duplicates are linked through one
// another, which copies of one image always are. `saturated` counts the rows whose k-th
// neighbour was still within the threshold (raise k to see every pair).
//
// Files left in `out`:
//   pairs.csv     i,j,id_i,id_j,distance[,similarity]  (i < j, each pair once, by i then j)
//   groups.csv    group,size,row,id  one line per row of a group of ≥ 2 (groups ordered by their
//                 first row; group g's first row is the one a deduplicated set keeps)
//   counts.npy    int64 [N]: group size per row (1 = no near-duplicate)
//   summary.json  counts, threshold, group-size histogram, planted groups found, timings
//   options.json
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/fields.h"
#include "diffmem/search/knn.h"

namespace diffmem::attack {

struct DedupOptions {
  /// l2: normalized ℓ2 ≤ threshold is a duplicate. cosine: cosine similarity ≥ threshold (the
  /// paper's embedding criterion) — set the threshold accordingly, e.g. 0.95.
  std::string metric = "l2";
  double threshold = 0.1;
  int64_t k = 10;            ///< neighbours examined per row (besides itself)
  search::KnnOptions knn;    ///< block sizes, recheck; k is set from `k`
  std::string device = "cpu";
};

DIFFMEM_VISIT_FIELDS(DedupOptions) {
  v("metric", o.metric);
  v("threshold", o.threshold);
  v("k", o.k);
  v("knn", o.knn);
  v("device", o.device);
  v.note("distance", o.metric == "cosine"
                         ? "cosine similarity of L2-normalized rows (>= threshold)"
                         : "normalized l2 = sqrt(mean((a-b)^2)), images in [0,1] (<= threshold)");
}
void validate(const DedupOptions& o);

struct DuplicatePair {
  int64_t i = 0, j = 0;  ///< rows, i < j
  float distance = 0;    ///< normalized ℓ2 (of the normalized rows for cosine)
  float similarity = 0;  ///< cosine similarity (metric cosine only)
};

struct DedupResult {
  int64_t rows = 0;
  std::vector<DuplicatePair> pairs;          ///< by (i, j)
  std::vector<int64_t> group;                ///< [N]: group index, -1 for a row with no duplicate
  std::vector<std::vector<int64_t>> groups;  ///< rows of each group of ≥ 2, ascending; by first row
  std::vector<int64_t> counts;               ///< [N]: size of the row's group (1 when alone)
  int64_t saturated = 0;
  double seconds = 0;
  /// Rows a deduplicated set keeps: every row that is alone or first in its group, ascending.
  std::vector<int64_t> keep() const;
};

/// rows: [N,D] f32 or [N,H,W,C] / [N,D] u8 (scaled by 1/255), any device. Throws on N < 2.
DedupResult find_duplicates(const torch::Tensor& rows, const DedupOptions& options,
                            const ProgressFn& progress = nullptr);

/// Reads embeddings for dedup: float32 [N,D] .npy; throws naming the file otherwise.
torch::Tensor load_embeddings(const std::filesystem::path& path);

/// Writes pairs.csv, groups.csv, counts.npy, options.json and summary.json into `out`. ids name
/// the rows (row indices when empty); a manifest with planted "duplicates" adds, for each planted
/// id, the group size found. `extra` is merged into summary.json. Returns the summary.
io::Json write_dedup(const std::filesystem::path& out, const DedupResult& result,
                     const DedupOptions& options, const std::vector<int64_t>& ids,
                     const io::Json& manifest = io::Json::object(),
                     const io::Json& extra = io::Json::object());

/// The data set keeping one row per group (result.keep()). Its manifest records the
/// deduplication ({from, threshold, metric, kept, removed}); planted "duplicates" move to
/// "duplicates_before_dedup", since the new set no longer holds those copies.
data::Dataset deduplicated(const data::Dataset& source, const DedupResult& result,
                           const DedupOptions& options, const std::string& from);

}  // namespace diffmem::attack
