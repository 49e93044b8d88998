#pragma once
// Sample quality of a model's generations against reference images, in one feature space:
// the Fréchet distance (FID in Inception-v3's space with real weights), KID with its spread, and
// precision/recall. What `diffmem quality` and the audit run.
//
// A reference can be images (a data set or a generations folder) or statistics saved by an
// earlier run (reference-stats/: mu.npy, sigma.npy, features.npy, stats.json). Statistics alone
// (mu, sigma without features.npy, e.g. converted from pytorch-fid's .npz) give the Fréchet
// distance only.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "diffmem/core/progress.h"
#include "diffmem/io/array.h"
#include "diffmem/quality/quality_options.h"
#include "diffmem/io/json.h"
#include "diffmem/model/feature_net.h"
#include "diffmem/quality/fid.h"
#include "diffmem/quality/kid.h"
#include "diffmem/quality/precision_recall.h"

namespace diffmem::quality {

/// Features [N,D] f32 of images U8 [N,H,W,C], `batch` at a time; progress under `stage`.
torch::Tensor compute_features(model::FeatureNet& net, const io::HostArray& images, int64_t batch,
                               const std::string& stage, const ProgressFn& progress = {});

/// The images of a folder: a generations folder (images-*.npy shards) or a data set.
io::HostArray load_images(const std::filesystem::path& dir);

/// A reference as statistics, with its features when they are at hand.
struct Reference {
  FeatureStats stats;
  torch::Tensor features;  ///< undefined for statistics alone
  std::string features_name;
  std::filesystem::path source;
};

/// True when `dir` holds saved statistics (mu.npy) rather than images.
bool is_stats_folder(const std::filesystem::path& dir);
/// Statistics saved by save_reference (features.npy read when present). An error naming the
/// folder when they were computed in another feature space than `net`'s or have another dimension.
Reference load_reference(const std::filesystem::path& dir, const model::FeatureNet& net);
/// dir/features.npy (f32), then save_stats (mu, sigma, stats.json last).
void save_reference(const std::filesystem::path& dir, const Reference& reference);

struct QualityResult {
  std::string features_name;
  bool is_fid = false;  ///< Inception-v3 with the weights the user gave: the distance is FID
  int64_t generated = 0, reference = 0;
  FrechetResult frechet;
  std::optional<KidResult> kid;
  std::optional<PrecisionRecall> pr;
  double seconds_features = 0, seconds_total = 0;
  int64_t peak_rss_bytes = -1;
};

/// Compares generated features with the reference.
QualityResult compare(const torch::Tensor& generated, const Reference& reference, const model::FeatureNet& net,
                      const QualityOptions& options);

/// What `diffmem quality` and the audit's quality stage do: the reference's saved statistics read
/// (or its images' features computed), the generations' features, both sets' statistics saved under
/// out/reference-stats (when computed) and out/generated-stats, the metrics, and out/summary.json
/// (`inputs` recorded there as "inputs"). Statistics of another feature space fail before any image
/// goes through `net`.
QualityResult run_quality(model::FeatureNet& net, const std::filesystem::path& generations,
                          const std::filesystem::path& reference, const std::filesystem::path& out,
                          const QualityOptions& options, const io::Json& inputs, const ProgressFn& progress = {});

/// summary.json's object: {"metric": "FID" or "FD (dataset-net …)", "features", "fd", "kid", …}.
io::Json quality_json(const QualityResult& result, const QualityOptions& options);
/// "FID 12.3" or "FD in dataset-net (…) space 4.56", for one-line summaries.
std::string distance_label(const QualityResult& result);

}  // namespace diffmem::quality
