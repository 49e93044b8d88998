#pragma once
// A folder of generated images, as `diffmem sample` writes it and the extraction stages read it:
//   manifest.json           how they were made (model, sampler, steps, seed, n, shard size)
//   images-00000.npy ...    uint8 [n,H,W,C], one file per shard
//   seeds-00000.npy  ...    int64 [n], the seed each image was generated from
// A shard is complete when its images file exists (it is written last, atomically), so an
// interrupted run resumes by regenerating only the missing shards.
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/io/array.h"

namespace diffmem::data {

struct ShardFiles {
  int64_t index = 0;
  std::filesystem::path images;
  std::filesystem::path seeds;
};

/// Paths of shard `index` in `dir` (whether or not they exist).
ShardFiles shard_files(const std::filesystem::path& dir, int64_t index);

/// Complete shards in `dir`, by index. Throws if a seeds file has no images file beside it only
/// when `strict`; otherwise such half-written shards are skipped (they will be regenerated).
std::vector<ShardFiles> list_shards(const std::filesystem::path& dir, bool strict = false);

/// Writes one shard: seeds first, images last (images' existence marks the shard complete).
/// images: U8 [n,H,W,C]; seeds: [n].
void write_shard(const std::filesystem::path& dir, int64_t index, const io::HostArray& images,
                 const std::vector<int64_t>& seeds);

/// dir/preview.png: a grid of up to the first 64 of `images` (U8 [n,H,W,C]), 8 per row.
void write_preview(const std::filesystem::path& dir, const io::HostArray& images);
/// Writes dir/preview.png from shard 0 when it is missing and shard 0 exists (a run killed
/// between its first shard and the preview gets it on the resume); returns whether it wrote.
bool ensure_preview(const std::filesystem::path& dir);

struct Generations {
  io::HostArray images;        // U8 [N,H,W,C], all complete shards in index order
  std::vector<int64_t> seeds;  // [N]
};

/// Reads every complete shard; checks that shapes agree across shards and with the seeds files.
Generations load_generations(const std::filesystem::path& dir);

/// Reads one shard (images + seeds, checked to agree).
Generations load_shard(const ShardFiles& shard);

}  // namespace diffmem::data
