#pragma once
// Text-to-image generation at scale: per_prompt images for each prompt, sharded and resumable like
// generate.h. Image i (over the whole run) is prompt i / per_prompt's, from seed + i, so any shard
// split or batch gives the same images. Files in `out` besides the shards (images-NNNNN.npy,
// seeds-NNNNN.npy): prompt-NNNNN.npy (i64 [n]: each image's prompt index, written before the
// images), prompts.jsonl ({"prompt": ...} per line, the run's prompt list), manifest.json (the
// options; a rerun with other options or prompts into the same folder is refused), preview.png.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/diffusion/generate.h"
#include "diffmem/diffusion/sd_pipeline.h"

namespace diffmem::diffusion {

struct TextToImageOptions {
  int64_t per_prompt = 1;      // images per prompt
  int64_t shard_size = 1024;   // images per shard file
  int64_t shard_index = 0;     // this worker takes shards s with s % shard_count == shard_index
  int64_t shard_count = 1;
  uint64_t seed = 0;           // image i is generated from seed + i
  std::string negative_prompt; // the same for every image ("" = unconditional)
  SdPipelineOptions pipeline;
  std::string model;           // where the pipeline came from (recorded in manifest.json)
};
/// The run's identity: which shards this worker takes is not a field.
DIFFMEM_FIELDS(TextToImageOptions, per_prompt, shard_size, seed, negative_prompt, pipeline, model)

GenerateResult generate_text_to_image(const SdPipeline& pipeline, const std::vector<std::string>& prompts,
                                      const std::filesystem::path& out, const TextToImageOptions& options,
                                      const ProgressFn& progress = nullptr);

}  // namespace diffmem::diffusion
