#pragma once
// diffusers' StableDiffusionPipeline on a pipeline folder (model_index.json; tokenizer/,
// text_encoder/, unet/, vae/, scheduler/): prompts (and negative prompts) through CLIP, classifier-
// free guidance, latents from one CPU generator per image (generator=[Generator().manual_seed(s)
// ...] gives the same image), the scheduler's steps, the VAE's decode, and uint8 images exactly as
// diffusers' output_type="np" then (x * 255).round(). Matched to diffusers 0.42.1 on tiny
// random-weight pipelines (tests/reference/model/make_sd_pipeline_reference.py).
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/io/fields.h"

namespace diffmem::diffusion {

struct SdPipelineOptions {
  int64_t steps = 50;            // num_inference_steps
  double guidance_scale = 7.5;   // > 1: classifier-free guidance (the unconditional batch)
  int64_t height = 0;            // 0 = unet sample_size × the VAE's scale factor
  int64_t width = 0;
  int64_t clip_skip = 0;         // diffusers' clip_skip: text from layer N-k of the encoder
  int64_t batch = 1;             // images per denoiser call; the images do not depend on it
                                 // beyond float rounding (see README)
  std::string sampler;           // "" = the folder's scheduler; else one of sd_sampler_names(),
                                 // as diffusers' NewScheduler.from_config(folder's config)
};
DIFFMEM_FIELDS(SdPipelineOptions, steps, guidance_scale, height, width, clip_skip, batch, sampler)

/// Throws diffmem::Error naming `where` and the field for an unusable value.
void validate(const SdPipelineOptions& o, const std::string& where);

class SdPipeline {
 public:
  /// Opens a pipeline folder; a missing or mismatched component is one line naming it. With
  /// `single_file` (an original CompVis-named checkpoint, model/single_file.h) the weights come
  /// from that file and `dir` gives only the configs, the tokenizer and the scheduler, as
  /// diffusers' from_single_file(file, config=dir) does; dir's own weight files are not read.
  static SdPipeline load(const std::filesystem::path& dir, const torch::Device& device = torch::kCPU,
                         const std::filesystem::path& single_file = {});
  ~SdPipeline();
  SdPipeline(SdPipeline&&) noexcept;
  SdPipeline& operator=(SdPipeline&&) noexcept;

  /// Text embeddings [N,77,H] of the prompts (padded and truncated as the pipeline does).
  torch::Tensor encode(const std::vector<std::string>& prompts, int64_t clip_skip = 0) const;
  /// images [N,height,width,3] u8 CPU: prompts[i] from seeds[i]; `negative` empty (= "") or one
  /// per prompt.
  torch::Tensor generate(const std::vector<std::string>& prompts, const std::vector<uint64_t>& seeds,
                         const SdPipelineOptions& options, const std::vector<std::string>& negative = {},
                         const ProgressFn& progress = nullptr) const;

  struct Parts;

 private:
  explicit SdPipeline(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace diffmem::diffusion
