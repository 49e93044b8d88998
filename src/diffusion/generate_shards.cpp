#include "generate_shards.h"

#include <torch/torch.h>

#include <chrono>

#include "diffmem/core/error.h"
#include "diffmem/data/generations.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::diffusion::detail {
namespace fs = std::filesystem;

void pin_manifest(const fs::path& out, const io::Json& manifest) {
  const fs::path mpath = out / "manifest.json";
  if (!fs::exists(mpath)) {
    io::write_json(mpath, manifest);
    return;
  }
  const io::Json prev = io::read_json(mpath);
  io::Json a = prev, b = manifest;
  if (!a.contains("class_label")) a["class_label"] = -1;  // runs made before class labels
  for (auto* j : {&a, &b}) j->erase("sample"), j->erase("model");
  io::Json sa = prev.value("sample", io::Json::object()), sb = manifest.value("sample", io::Json::object());
  sa.erase("batch");
  sb.erase("batch");
  if (a != b || sa != sb)
    fail(mpath.string(), "the same sampling options as the run already in this folder",
         "different ones (use a new --out, or the same options to resume)");
}

GenerateResult write_shards(const fs::path& out, const GenerateOptions& o, const ProgressFn& progress,
                            const ShardImages& make) {
  GenerateResult r;
  r.shards_total = (o.n + o.shard_size - 1) / o.shard_size;
  std::vector<int64_t> todo;
  for (int64_t s = o.shard_index; s < r.shards_total; s += o.shard_count) {
    if (fs::exists(data::shard_files(out, s).images))
      ++r.shards_skipped;
    else
      todo.push_back(s);
  }
  int64_t todo_images = 0;
  for (int64_t s : todo) todo_images += std::min(o.shard_size, o.n - s * o.shard_size);

  ProgressMeter meter(progress, "sample", todo_images, "images");
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t s : todo) {
    const int64_t first = s * o.shard_size;
    const int64_t count = std::min(o.shard_size, o.n - first);
    std::vector<uint64_t> seeds = image_seeds(o.seed, first, count);
    const int64_t done_before = r.images_written;
    ProgressFn inner;
    if (progress) {
      inner = [&](const ProgressEvent& e) {
        // Steps within this shard → images done overall, for one coherent progress line.
        int64_t within = e.total > 0 ? count * e.done / e.total : 0;
        meter.update(done_before + within);
      };
    }
    const io::HostArray images = io::from_tensor(make(s, first, count, seeds, inner));
    std::vector<int64_t> seeds64(seeds.begin(), seeds.end());
    data::write_shard(out, s, images, seeds64);
    if (s == 0) data::write_preview(out, images);
    r.images_written += count;
    ++r.shards_written;
    meter.update(r.images_written, "shard " + std::to_string(s + 1) + "/" +
                                       std::to_string(r.shards_total), true);
  }
  meter.finish();
  data::ensure_preview(out);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.images_per_s = secs > 0 ? r.images_written / secs : 0.0;
  return r;
}

}  // namespace diffmem::diffusion::detail
