#include "diffmem/diffusion/sd_generate.h"

#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/data/generations.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::diffusion {
namespace fs = std::filesystem;

GenerateResult generate_text_to_image(const SdPipeline& pipe, const std::vector<std::string>& prompts,
                                      const fs::path& out, const TextToImageOptions& o,
                                      const ProgressFn& progress) {
  check(!prompts.empty(), "prompts", "at least one prompt", "none");
  check(o.per_prompt >= 1, "--per-prompt", "at least 1", std::to_string(o.per_prompt));
  check(o.shard_size >= 1, "--shard-size", "a positive shard size", std::to_string(o.shard_size));
  check(o.shard_count >= 1 && o.shard_index >= 0 && o.shard_index < o.shard_count, "--shard",
        "an index in [0, count) and count >= 1",
        std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count));
  validate(o.pipeline, "text-to-image options");
  const int64_t n = static_cast<int64_t>(prompts.size()) * o.per_prompt;

  std::string listing;
  for (const auto& p : prompts) listing += io::Json{{"prompt", p}}.dump() + "\n";
  io::Json manifest = io::fields_json(o);
  manifest["created_by"] = "diffmem sample (text-to-image)";
  manifest["n"] = n;
  manifest["prompts"] = prompts.size();
  const fs::path mpath = out / "manifest.json", ppath = out / "prompts.jsonl";
  fs::create_directories(out);
  if (fs::exists(mpath)) {
    io::Json prev = io::read_json(mpath), now = manifest;
    for (auto* j : {&prev, &now}) {
      if (j->contains("pipeline")) (*j)["pipeline"].erase("batch");
      j->erase("model");
    }
    std::string prev_listing;
    if (fs::exists(ppath)) {
      std::ifstream in(ppath, std::ios::binary);
      prev_listing.assign(std::istreambuf_iterator<char>(in), {});
    }
    if (prev != now || prev_listing != listing)
      fail(mpath.string(), "the same options and prompts as the run already in this folder",
           "different ones (use a new --out, or the same options to resume)");
  } else {
    core::write_file_atomic(ppath, listing);
    io::write_json(mpath, manifest);
  }

  GenerateResult r;
  r.shards_total = (n + o.shard_size - 1) / o.shard_size;
  std::vector<int64_t> todo;
  for (int64_t s = o.shard_index; s < r.shards_total; s += o.shard_count) {
    if (fs::exists(data::shard_files(out, s).images)) ++r.shards_skipped;
    else todo.push_back(s);
  }
  int64_t todo_images = 0;
  for (int64_t s : todo) todo_images += std::min(o.shard_size, n - s * o.shard_size);
  ProgressMeter meter(progress, "sample", todo_images, "images");
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s : todo) {
    const int64_t first = s * o.shard_size, count = std::min(o.shard_size, n - first);
    std::vector<std::string> p, neg;
    std::vector<uint64_t> seeds;
    std::vector<int64_t> seeds64, index;
    for (int64_t i = first; i < first + count; ++i) {
      index.push_back(i / o.per_prompt);
      p.push_back(prompts[static_cast<size_t>(i / o.per_prompt)]);
      neg.push_back(o.negative_prompt);
      seeds.push_back(o.seed + static_cast<uint64_t>(i));
      seeds64.push_back(static_cast<int64_t>(o.seed + static_cast<uint64_t>(i)));
    }
    const torch::Tensor images = pipe.generate(p, seeds, o.pipeline, neg);
    io::HostArray ids = io::HostArray::zeros(io::DType::kI64, {count});
    std::memcpy(ids.bytes.data(), index.data(), index.size() * sizeof(int64_t));
    char name[32];
    std::snprintf(name, sizeof name, "prompt-%05lld.npy", static_cast<long long>(s));
    io::write_npy(out / name, ids);
    const io::HostArray host = io::from_tensor(images);
    data::write_shard(out, s, host, seeds64);
    if (s == 0) data::write_preview(out, host);
    r.images_written += count;
    ++r.shards_written;
    meter.update(r.images_written, "shard " + std::to_string(s + 1) + "/" + std::to_string(r.shards_total), true);
  }
  meter.finish();
  data::ensure_preview(out);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.images_per_s = secs > 0 ? r.images_written / secs : 0.0;
  return r;
}

}  // namespace diffmem::diffusion
