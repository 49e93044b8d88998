#include "diffmem/diffusion/generate.h"

#include <torch/torch.h>

#include <chrono>

#include "diffmem/core/error.h"
#include "diffmem/data/generations.h"
#include "diffmem/diffusion/noise.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::diffusion {
namespace fs = std::filesystem;

GenerateResult generate(model::Denoiser& denoiser, const NoiseSchedule& schedule,
                        const fs::path& out, const GenerateOptions& o,
                        const ProgressFn& progress) {
  if (o.n <= 0) fail("--n", "a positive number of images", std::to_string(o.n));
  if (o.shard_size <= 0) fail("--shard-size", "a positive shard size", std::to_string(o.shard_size));
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    fail("--shard", "an index in [0, count) and count >= 1",
         std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count));
  validate(o.sample, "sample options");

  // The manifest pins the run: a rerun with other options into the same folder would mix images.
  io::Json manifest = io::fields_json(o);
  manifest["created_by"] = "diffmem sample";
  manifest["schedule"] = to_json(schedule.config());
  manifest["image_shape"] = {denoiser.sample_size(), denoiser.sample_width(),
                             denoiser.in_channels()};
  fs::path mpath = out / "manifest.json";
  if (fs::exists(mpath)) {
    io::Json prev = io::read_json(mpath);
    io::Json a = prev, b = manifest;
    for (auto* j : {&a, &b}) j->erase("sample"), j->erase("model");
    io::Json sa = prev.value("sample", io::Json::object()), sb = manifest["sample"];
    sa.erase("batch");
    sb.erase("batch");
    if (a != b || sa != sb)
      fail(mpath.string(), "the same sampling options as the run already in this folder",
           "different ones (use a new --out, or the same options to resume)");
  } else {
    io::write_json(mpath, manifest);
  }

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
    torch::Tensor x = sample(denoiser, schedule, seeds, o.sample, inner);
    io::HostArray images = io::from_tensor(to_uint8_nhwc(x));
    std::vector<int64_t> seeds64(seeds.begin(), seeds.end());
    data::write_shard(out, s, images, seeds64);
    if (s == 0) data::write_preview(out, images);
    r.images_written += count;
    ++r.shards_written;
    meter.update(r.images_written, "shard " + std::to_string(s + 1) + "/" +
                                       std::to_string(r.shards_total), true);
  }
  meter.finish();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.images_per_s = secs > 0 ? r.images_written / secs : 0.0;
  return r;
}

}  // namespace diffmem::diffusion
