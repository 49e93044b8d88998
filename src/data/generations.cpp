#include "diffmem/data/generations.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "diffmem/core/error.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"

namespace diffmem::data {
namespace fs = std::filesystem;

ShardFiles shard_files(const fs::path& dir, int64_t index) {
  char name[64];
  ShardFiles s;
  s.index = index;
  std::snprintf(name, sizeof name, "images-%05lld.npy", static_cast<long long>(index));
  s.images = dir / name;
  std::snprintf(name, sizeof name, "seeds-%05lld.npy", static_cast<long long>(index));
  s.seeds = dir / name;
  return s;
}

std::vector<ShardFiles> list_shards(const fs::path& dir, bool strict) {
  if (!fs::is_directory(dir)) fail(dir.string(), "a folder of generations", "no such folder");
  std::map<int64_t, ShardFiles> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    long long idx = -1;
    char tail[8] = {0};
    if (std::sscanf(name.c_str(), "images-%lld.%4s", &idx, tail) == 2 &&
        std::strcmp(tail, "npy") == 0 && idx >= 0) {
      ShardFiles s = shard_files(dir, idx);
      if (!fs::exists(s.seeds)) fail(s.images.string(), "a seeds file beside it", "none");
      found[idx] = s;
    } else if (strict && std::sscanf(name.c_str(), "seeds-%lld.%4s", &idx, tail) == 2 &&
               !fs::exists(shard_files(dir, idx).images)) {
      fail(e.path().string(), "an images file beside it", "none (an interrupted shard)");
    }
  }
  std::vector<ShardFiles> out;
  for (auto& [i, s] : found) out.push_back(s);
  return out;
}

void write_shard(const fs::path& dir, int64_t index, const io::HostArray& images,
                 const std::vector<int64_t>& seeds) {
  ShardFiles s = shard_files(dir, index);
  if (images.dtype != io::DType::kU8 || images.shape.size() != 4)
    fail(s.images.string(), "uint8 [n,H,W,C] images",
         io::dtype_name(images.dtype) + " " + io::shape_str(images.shape));
  if (images.shape[0] != static_cast<int64_t>(seeds.size()))
    fail(s.seeds.string(), std::to_string(images.shape[0]) + " seeds",
         std::to_string(seeds.size()));
  io::HostArray sa = io::HostArray::zeros(io::DType::kI64, {static_cast<int64_t>(seeds.size())});
  std::memcpy(sa.bytes.data(), seeds.data(), seeds.size() * sizeof(int64_t));
  io::write_npy(s.seeds, sa);
  io::write_npy(s.images, images);
}

Generations load_shard(const ShardFiles& shard) {
  Generations g;
  g.images = io::read_npy(shard.images);
  if (g.images.dtype != io::DType::kU8 || g.images.shape.size() != 4)
    fail(shard.images.string(), "uint8 [n,H,W,C] images",
         io::dtype_name(g.images.dtype) + " " + io::shape_str(g.images.shape));
  io::HostArray s = io::read_npy(shard.seeds);
  if (s.dtype != io::DType::kI64 || s.shape.size() != 1 || s.shape[0] != g.images.shape[0])
    fail(shard.seeds.string(), "int64 [" + std::to_string(g.images.shape[0]) + "] seeds",
         io::dtype_name(s.dtype) + " " + io::shape_str(s.shape));
  g.seeds.assign(s.data<int64_t>(), s.data<int64_t>() + s.shape[0]);
  return g;
}

Generations load_generations(const fs::path& dir) {
  Generations all;
  auto shards = list_shards(dir);
  if (shards.empty()) fail(dir.string(), "at least one images-NNNNN.npy shard", "none");
  std::vector<int64_t> img_shape;
  for (const auto& s : shards) {
    Generations g = load_shard(s);
    std::vector<int64_t> per(g.images.shape.begin() + 1, g.images.shape.end());
    if (img_shape.empty()) {
      img_shape = per;
      all.images.dtype = io::DType::kU8;
      all.images.shape = g.images.shape;
      all.images.shape[0] = 0;
    } else if (per != img_shape) {
      fail(s.images.string(), "images of shape " + io::shape_str(img_shape),
           io::shape_str(per));
    }
    all.images.shape[0] += g.images.shape[0];
    all.images.bytes.insert(all.images.bytes.end(), g.images.bytes.begin(), g.images.bytes.end());
    all.seeds.insert(all.seeds.end(), g.seeds.begin(), g.seeds.end());
  }
  return all;
}

void write_preview(const std::filesystem::path& dir, const io::HostArray& images) {
  io::HostArray head = images;
  const int64_t count = images.shape.at(0), k = std::min<int64_t>(64, count);
  head.shape[0] = k;
  head.bytes.resize(count > 0 ? k * images.nbytes() / count : 0);
  io::write_png(dir / "preview.png", io::make_grid(head, 8));
}

bool ensure_preview(const std::filesystem::path& dir) {
  std::error_code ec;
  const auto first = shard_files(dir, 0).images;
  if (std::filesystem::exists(dir / "preview.png", ec) || !std::filesystem::exists(first, ec)) return false;
  write_preview(dir, io::read_npy(first));
  return true;
}

}  // namespace diffmem::data
