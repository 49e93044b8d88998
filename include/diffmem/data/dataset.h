#pragma once
// The canonical data set every stage reads: a directory with
//   images.npy    uint8 [N,H,W,C]
//   labels.npy    int64 [N], -1 where the source has no label
//   ids.npy       int64 [N], index of each image in its source (results name images by it)
//   manifest.json source, shape, count, options, and (when planted) duplicate groups
//   members.npy   optional bool [N]: the member mask of a split (LiRA convention)
//   captions.jsonl optional: one {"caption": ...} per image, for text-to-image models (captions.h)
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/io/array.h"
#include "diffmem/io/json.h"

namespace diffmem::data {

struct Dataset {
  io::HostArray images;          // U8 [N,H,W,C]
  std::vector<int64_t> labels;   // [N]
  std::vector<int64_t> ids;      // [N]
  io::Json manifest = io::Json::object();
  /// members.npy: which rows a split's model trains on. Copies of one image share its value.
  std::optional<std::vector<bool>> members;
  /// captions.jsonl: one caption per row.
  std::optional<std::vector<std::string>> captions;

  int64_t size() const { return images.shape.empty() ? 0 : images.shape[0]; }
  int64_t height() const { return images.shape.at(1); }
  int64_t width() const { return images.shape.at(2); }
  int64_t channels() const { return images.shape.at(3); }
  int64_t image_bytes() const { return height() * width() * channels(); }
  /// Pointer to image i's H*W*C bytes.
  const uint8_t* image(int64_t i) const;
};

/// Throws diffmem::Error naming `where` unless images is U8 [N,H,W,C] with N ≥ 0, H, W > 0,
/// C in {1, 3}, and labels, ids (and members, captions when set) hold N entries.
void validate_dataset(const Dataset& ds, const std::string& where);

/// Loads a dataset directory (members.npy too, when present); throws diffmem::Error naming the
/// file on a missing file, a wrong dtype or rank, or arrays whose lengths disagree.
Dataset load_dataset(const std::filesystem::path& dir);

/// What a search over a data set's images needs besides the images themselves, for folders too big
/// to load whole (extract --split-train reads each rank's rows with io::read_npy_rows).
struct DatasetInfo {
  std::filesystem::path images;   ///< DIR/images.npy
  std::vector<int64_t> shape;     ///< [N,H,W,C] of images.npy
  std::vector<int64_t> ids;       ///< [N]
  io::Json manifest = io::Json::object();
};

/// The folder checked as load_dataset checks it (manifest, images.npy's header and dtype, ids),
/// without reading the images; throws diffmem::Error naming the file as load_dataset does.
DatasetInfo load_dataset_info(const std::filesystem::path& dir);

/// Writes images.npy, labels.npy, ids.npy, members.npy and captions.jsonl (or removes a stale one
/// when `ds.members` / `ds.captions` is empty) and manifest.json. All of it is written into
/// DIR/.staging.PID first, so a full disk or a kill leaves the old data set as it was; then the
/// files are renamed into place, the old manifest removed first and the new one moved last, so a
/// directory with a manifest is always complete and consistent.
void save_dataset(const std::filesystem::path& dir, const Dataset& ds);

/// members.npy of a directory (dataset or model folder), if present: BOOL [N]; when
/// `expected_n` ≥ 0 the length must equal it.
std::optional<std::vector<bool>> load_members(const std::filesystem::path& dir,
                                              int64_t expected_n = -1);
void save_members(const std::filesystem::path& dir, const std::vector<bool>& members);

}  // namespace diffmem::data
