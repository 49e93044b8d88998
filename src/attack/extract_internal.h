#pragma once
// Pieces of attack/extract shared by its source files: the per-shard computation, the shard cache
// and the writers of the aggregate outputs.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "diffmem/attack/extract.h"
#include "diffmem/search/knn.h"
#include "diffmem/data/dataset.h"
#include "diffmem/data/generations.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/search/distances.h"

namespace diffmem::attack::detail {

/// The training set as this rank holds it: every row, or (--split-train on several ranks) only
/// rows [first, first + images.shape[0]). Shape, ids and manifest are always the whole set's.
struct TrainSet {
  std::filesystem::path images_npy;
  std::vector<int64_t> shape;  // [N,H,W,C] of the whole set
  std::vector<int64_t> ids;    // [N]
  io::Json manifest = io::Json::object();
  io::HostArray images;        // the rows held, [n,H,W,C] u8
  int64_t first = 0;

  int64_t size() const { return shape.at(0); }
  bool whole() const { return first == 0 && images.shape.at(0) == size(); }
  search::ImageShape image_shape() const { return {shape.at(1), shape.at(2), shape.at(3)}; }
  /// Rows of the whole set (any order, repeats allowed) as [n,H,W,C] u8: from memory when held
  /// whole, else read from images_npy.
  io::HostArray rows(const std::vector<int64_t>& rows) const;
};

/// The whole training set of `dir` (data::load_dataset).
TrainSet load_train_whole(const std::filesystem::path& dir);
/// Rank `rank` of `size`'s contiguous rows of the training set in `dir` (data::load_dataset_info
/// and io::read_npy_rows): rows [N·rank/size, N·(rank+1)/size). Needs N ≥ size.
TrainSet load_train_part(const std::filesystem::path& dir, int rank, int size);

/// The training rows a match needs for its tiled ℓ2: nearest rows [r] i64 (-1 read as row 0) →
/// [r,D] f32 in [0,1] on `device`.
using TrainingRows = std::function<torch::Tensor(const torch::Tensor& nearest)>;

/// Matches of one shard's images ([n,H,W,C] u8, any device) from their k nearest training rows
/// (`knn`, indices into the whole set): nearest row/id, ℓ2, tiled ℓ2 (on `device`) and
/// (n_calibration > 0) calibrated ℓ2. Fields generation and extracted are left for the caller;
/// index is the position in the shard.
std::vector<Match> match_neighbours(const search::KnnResult& knn, const torch::Tensor& images,
                                    const TrainingRows& training_rows, const torch::Device& device,
                                    const search::ImageShape& shape, const std::vector<int64_t>& ids,
                                    const ExtractOptions& options, int64_t n_calibration);

/// match_neighbours of the index's search of the images.
std::vector<Match> match_images(const search::KnnIndex& index, const torch::Tensor& images,
                                const search::ImageShape& shape, const std::vector<int64_t>& ids,
                                const ExtractOptions& options, int64_t n_calibration);

/// The shard cache: shards/matches-NNNNN.csv with columns
/// index,seed,nearest_row,nearest_id,l2,tiled_l2,calibrated_l2 (floats printed to round-trip).
std::filesystem::path shard_cache_file(const std::filesystem::path& out, int64_t shard);
void write_shard_cache(const std::filesystem::path& path, const std::vector<Match>& rows);

/// One line of matches.csv (no newline) and its header.
std::string matches_header();
std::string match_line(const Match& m);

/// A generation image's bytes read straight from its shard file (no whole-shard load).
std::vector<uint8_t> read_shard_image(const std::filesystem::path& images_npy, int64_t index);

/// Best generation seen so far for one training id (every id hit, extracted or not).
struct IdBest {
  Match best;
  int64_t hits = 0;  ///< extracted generations only
};

/// One complete shard of generations, in the order of the run.
struct ShardPlan {
  data::ShardFiles files;
  int64_t n = 0;
  int64_t offset = 0;  // generation index of its first image
};

/// A shard's seeds (int64 [n]); throws naming the file otherwise.
std::vector<int64_t> read_seeds(const data::ShardFiles& s, int64_t n);

/// A cached shard when its rows agree with the shard's seeds; empty otherwise.
std::vector<Match> load_cached(const std::filesystem::path& file, const std::vector<int64_t>& seeds);

/// The inputs of one extraction run, checked (run_extract's plan step).
struct ExtractInputs {
  std::filesystem::path generations, train_dir, out;
  const ExtractOptions* options = nullptr;
  const TrainSet* train = nullptr;
  int64_t n_cal = 0;           // calibration neighbours (≤ the training set)
  search::KnnOptions knn;      // as searched (k set)
  std::string device;
  std::string arithmetic;      // KnnIndex::arithmetic(): which distances ran
  io::Json extra;              // merged into summary.json
  double t0 = 0, t_load = 0, t_index = 0;  // seconds on a monotonic clock
  bool peak_since_start = false;           // core::reset_peak_rss() worked at t0
  int train_parts = 1;                     // ranks the training set is split across (--split-train)
};

/// What the pass over the shards leaves for the aggregate outputs.
struct Scan {
  std::map<int64_t, IdBest> by_id;  // every id that is some generation's nearest image
  std::vector<Match> closest;       // pairs_distinct = false: the top_pairs_png closest, a heap
  std::vector<double> l2s, cals;
  std::vector<int64_t> extracted_id;  // per generation: the id it extracted, -1 = none
  int64_t within_delta = 0, within_cal = 0, computed = 0;
  std::map<int64_t, data::ShardFiles> shard_files;
};

/// Closest first: by ℓ2, then by generation.
inline bool closer(const Match& a, const Match& b) {
  return a.l2 != b.l2 ? a.l2 < b.l2 : a.generation < b.generation;
}

/// extracted.csv, pairs.png, summary.json and options.json from the scan; fills the result's
/// extracted images, rates, seconds and summary.
void write_extract_outputs(const ExtractInputs& in, const Scan& scan, ExtractResult& result);

/// extracted.csv (see extract.h).
void write_extracted_csv(const std::filesystem::path& path, const std::vector<ExtractedImage>& rows);

/// metrics::histogram of the finite values over [0, max(largest value, at_least)] as JSON.
io::Json histogram_json(const std::vector<double>& values, int64_t bins, double at_least);

/// A match as a JSON object (the summary's top pairs); a NaN calibrated ℓ2 becomes null.
io::Json match_json(const Match& m);

/// pairs.png: generation | training image, `pairs` of them, `per_row` pairs per row.
void write_pairs_png(const std::filesystem::path& path, const std::vector<Match>& pairs,
                     const std::map<int64_t, data::ShardFiles>& shards, const TrainSet& train,
                     int64_t per_row);

/// extract --split-train on several ranks (extract_split.cpp): every rank searches its part of the
/// training set (`part_index`, over in.train's rows) for the generations of every shard not yet
/// cached; rank 0 merges the ranks' k nearest (search/knn_merge.h), finishes the matches and writes
/// each shard's cache file as soon as it is done. Returns the shard indices computed, on every rank.
std::set<int64_t> search_split_train(const std::vector<ShardPlan>& plan, const ExtractInputs& in,
                                     const search::KnnIndex& part_index, const dist::Communicator& comm,
                                     ExtractResult& result, const ProgressFn& progress);

}  // namespace diffmem::attack::detail
