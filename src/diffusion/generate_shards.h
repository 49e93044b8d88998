#pragma once
// Internal to diffusion/: what every kind of sampling run shares — the manifest that pins a run's
// options to its folder, and the loop over this worker's shards that skips finished ones and
// writes each atomically (generate.cpp for diffusion models, generate_gan.cpp for generators).
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <vector>

#include "diffmem/diffusion/generate.h"

namespace diffmem::diffusion::detail {

/// Writes out/manifest.json, or, when one is there, refuses a run with other options (all but
/// "model" and the sampling batch, which never change the images).
void pin_manifest(const std::filesystem::path& out, const io::Json& manifest);

/// The images of one shard: `count` images from image `first` on, image i from seeds[i - first];
/// uint8 [count,H,W,C]. `inner` reports progress within the shard (any total).
using ShardImages = std::function<torch::Tensor(int64_t shard, int64_t first, int64_t count,
                                                const std::vector<uint64_t>& seeds, const ProgressFn& inner)>;

/// This worker's shards (shard_index, shard_count) that are not yet on disk, each made by `make`
/// and written with its seeds; preview.png from the first shard.
GenerateResult write_shards(const std::filesystem::path& out, const GenerateOptions& o, const ProgressFn& progress,
                            const ShardImages& make);

}  // namespace diffmem::diffusion::detail
