#pragma once
// White-box extraction (Carlini et al. §5.1): every generation against every training image.
// Shards of generations (data/generations.h) stream one at a time through a search::KnnIndex of
// the training set; each generation gets its nearest training image, the normalized ℓ2 to it, the
// tiled ℓ2 to that same image and the calibrated ℓ2 (its ℓ2 over α · the mean ℓ2 to its n nearest
// training images). A generation is extracted when ℓ2 ≤ δ, or, with a calibrated threshold, when
// its calibrated ℓ2 ≤ that threshold (the paper's CIFAR-10 criterion).
//
// Files left in `out`:
//   matches.csv      one row per generation: generation,shard,seed,nearest_row,nearest_id,l2,
//                    tiled_l2,calibrated_l2,extracted (calibrated_l2 empty when n_calibration = 0)
//   extracted.csv    one row per extracted training image (by id; copies share it): id,row,hits,
//                    best_l2,best_generation,best_seed,copies,planted (planted: the manifest's
//                    duplicate count, empty when the data set records none), best first
//   summary.json     counts, thresholds, timings, per-duplicate-count rates, histograms, top pairs
//   pairs.png        the closest pairs, generation | nearest training image, closest first
//   options.json     the options used
//   shards/          per-shard results (matches-NNNNN.csv) and the key they were computed under;
//                    a rerun reuses every shard whose key and seeds still match (resume)
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/attack/extract_options.h"
#include "diffmem/core/progress.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/io/json.h"

namespace diffmem::attack {



/// One generation's result (a row of matches.csv).
struct Match {
  int64_t generation = 0;   ///< position over all complete shards, in shard order
  int64_t shard = 0;
  int64_t index = 0;        ///< position within its shard
  int64_t seed = 0;
  int64_t nearest_row = -1; ///< training row (the smallest among exact ties)
  int64_t nearest_id = -1;
  float l2 = 0;
  float tiled_l2 = 0;
  float calibrated_l2 = 0;  ///< NaN when n_calibration = 0
  bool extracted = false;
};

/// One extracted training image (a row of extracted.csv).
struct ExtractedImage {
  int64_t id = -1;
  int64_t row = -1;          ///< the training row the best generation matched
  int64_t hits = 0;          ///< extracted generations whose nearest image has this id
  float best_l2 = 0;
  int64_t best_generation = -1;
  int64_t best_seed = 0;
  int64_t copies = 1;        ///< training rows sharing the id
  int64_t planted = -1;      ///< manifest duplicate count; -1 = not recorded
};

/// Fig. 5: of the images planted `count` times, how many were extracted.
struct DuplicateRate {
  int64_t count = 0;
  int64_t planted = 0;
  int64_t extracted = 0;
  double rate = 0;
};

struct ExtractResult {
  int64_t generations = 0;
  int64_t extracted_generations = 0;
  int64_t unique_extracted = 0;            ///< distinct training ids extracted
  std::vector<ExtractedImage> extracted;   ///< best first
  std::vector<DuplicateRate> rates;        ///< by count; empty without planted duplicates
  int64_t shards = 0;
  int64_t shards_computed = 0;
  int64_t shards_reused = 0;
  int64_t k = 0;                           ///< neighbours searched per generation
  double seconds = 0;
  double search_seconds = 0;               ///< k-NN + tiled + calibrated, shards computed now
  io::Json summary;                        ///< what summary.json holds
};

/// Runs the extraction of every complete shard in `generations` against the data set in `train`
/// and writes the files above into `out`. `extra` is merged into summary.json. Progress: stage
/// "extract", unit "generations". Throws diffmem::Error naming the file on a missing folder, no
/// shards, or generations whose image shape differs from the training images'.
///
/// With several ranks (`comm`, an MPI job) every rank builds the index of the whole training set
/// and computes the shards it owns (position % size == rank) into the shard cache; rank 0 then
/// writes the files above exactly as one process would (the others return the counts only).
/// An error on any rank is thrown on every rank (dist::CollectiveError), naming the rank.
ExtractResult run_extract(const std::filesystem::path& generations,
                          const std::filesystem::path& train, const std::filesystem::path& out,
                          const ExtractOptions& options, const io::Json& extra = io::Json::object(),
                          const ProgressFn& progress = nullptr,
                          const dist::Communicator& comm = dist::single());

/// Reads a matches.csv (or a shard cache file) back; throws naming the file on a malformed line.
std::vector<Match> read_matches_csv(const std::filesystem::path& path);

}  // namespace diffmem::attack
