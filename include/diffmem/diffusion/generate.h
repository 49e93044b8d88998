#pragma once
// Sampling at scale: N images cut into shards (data/generations.h), each image from its own seed
// (seed + index), each shard written atomically. A rerun skips finished shards, and a worker can
// take every k-th shard (shard_index / shard_count) so that many processes can share one run.
#include <filesystem>

#include "diffmem/core/progress.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/json.h"
#include "diffmem/model/denoiser.h"

namespace diffmem::model {
class Denoiser;
class Generator;
}

namespace diffmem::diffusion {

struct GenerateOptions {
  int64_t n = 64;             // images in the whole run
  int64_t shard_size = 1024;  // images per shard file
  int64_t shard_index = 0;    // this worker takes shards s with s % shard_count == shard_index
  int64_t shard_count = 1;
  uint64_t seed = 0;          // image i is sampled from seed + i
  /// Class-conditional models: every image of this class; -1: image i of class i mod classes.
  int64_t class_label = -1;
  SampleOptions sample;
  std::string model;          // where the model came from (recorded in manifest.json)
};

/// The run's identity (manifest.json): every worker of it writes the same, so which shards this
/// worker takes (shard_index, shard_count) is not a field.
DIFFMEM_FIELDS(GenerateOptions, n, shard_size, seed, class_label, sample, model)

/// n in [1, 2^40], shard_size in [1, 2^31), the shard in [0, count), class_label >= -1; each
/// error naming the flag. generate() runs it; the CLI runs it before loading the model.
void validate(const GenerateOptions& options, const std::string& where);

struct GenerateResult {
  int64_t shards_total = 0;
  int64_t shards_written = 0;
  int64_t shards_skipped = 0;  // already complete
  int64_t images_written = 0;
  double images_per_s = 0.0;
};

/// Writes out/manifest.json, out/images-NNNNN.npy + seeds-NNNNN.npy (+ classes-NNNNN.npy, int64,
/// for a class-conditional model), and out/preview.png (a grid of up to 64 images from the first
/// shard). Throws if out/ holds a run with other options. A score-SDE model (takes_sigma) is
/// sampled by diffusion/score_sde_ve.h and needs a ScoreSdeVeScheduler `schedule`.
GenerateResult generate(model::Denoiser& denoiser, const NoiseSchedule& schedule,
                        const std::filesystem::path& out, const GenerateOptions& options,
                        const ProgressFn& progress = nullptr);

/// The same shards from a GAN: image i is generator.generate(z_i), z_i [z_dim] drawn as
/// randn_per_image draws initial noise, from seed + i (diffusion/noise.h). Only n, shard_size,
/// the shard, seed and sample.batch apply; class_label must be -1. The manifest records
/// {"sampler": "generator"}, the generator's description and z_dim.
GenerateResult generate(model::Generator& generator, const std::filesystem::path& out,
                        const GenerateOptions& options, const ProgressFn& progress = nullptr);

/// The latents of images with these seeds: [seeds.size(), z_dim] f32 CPU, row i from seeds[i]'s
/// own generator.
torch::Tensor gan_latents(const std::vector<uint64_t>& seeds, int64_t z_dim);

}  // namespace diffmem::diffusion
