#pragma once
// diffusers' StableDiffusionPipeline on a pipeline folder (model_index.json; tokenizer/,
// text_encoder/, unet/, vae/, scheduler/): prompts (and negative prompts) through CLIP, classifier-
// free guidance, latents from one CPU generator per image (generator=[Generator().manual_seed(s)
// ...] gives the same image), the scheduler's steps, the VAE's decode, and uint8 images exactly as
// diffusers' output_type="np" then (x * 255).round(). Matched to diffusers 0.42.1 on tiny
// random-weight pipelines (tests/reference/model/make_sd_pipeline_reference.py). A folder whose
// model_index.json has "vae": [null, null] is a pixel-space model (what diffmem's text-to-image
// training writes): its latents are the images, in [-1, 1], as diffusers' output_type="latent".
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/diffusion/sd_options.h"

namespace diffmem::diffusion {

/// Per generation, with d(x, t) = eps(x, t, prompt) - eps(x, t, "") (the guidance direction; v- and
/// x0-models converted to eps first):
///   first_norms [N, first_steps]: ||d(x_s, t_s)||_2 over the latent at each of the first steps s
///     of the guided trajectory generate() follows (Wen et al., ICLR 2024);
///   low_cosine [N]: the initial latent x_T given at the low-noise timestep t_low, the cosine over
///     channels between eps(x_T, t_low, "") and d(x_T, t_low), averaged over latent pixels
///     (Asthana & Belagiannis, ICLR 2026); NaN when low_from_end is 0.
/// unet_images counts U-Net evaluations of one latent (a guided call on a batch of b counts 2b).
struct SdProbe {
  torch::Tensor first_norms;
  torch::Tensor low_cosine;
  int64_t unet_images = 0;
};

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
  /// images [N,height,width,C] u8 CPU (C = 3, or the U-Net's channels in pixel space): prompts[i] from seeds[i]; `negative` empty (= "") or one
  /// per prompt.
  torch::Tensor generate(const std::vector<std::string>& prompts, const std::vector<uint64_t>& seeds,
                         const SdPipelineOptions& options, const std::vector<std::string>& negative = {},
                         const ProgressFn& progress = nullptr) const;
  /// U-Net evaluations of one latent that generate() spends on one image with these options (the
  /// scheduler's timesteps, PNDM's extra first step included; twice that with guidance).
  int64_t unet_images_per_image(const SdPipelineOptions& options) const;
  /// The screen's measurements for prompts[i] from seeds[i]: the same initial latents and
  /// trajectory as generate() (options.guidance_scale must be > 1: the measure is the difference
  /// the guidance amplifies). No VAE decode.
  SdProbe probe(const std::vector<std::string>& prompts, const std::vector<uint64_t>& seeds,
                const SdPipelineOptions& options, const SdProbeOptions& probe_options,
                const ProgressFn& progress = nullptr) const;

  /// The folder's scheduler config (its betas are the training noise schedule).
  const SchedulerConfig& scheduler_config() const;
  /// What the U-Net denoises, as training computes it: images [N,H,W,C] u8 → [N,C',h,w] f32 on the
  /// pipeline's device — the images in [-1, 1] in pixel space, else the VAE posterior's mean ×
  /// scaling_factor.
  torch::Tensor to_latents(const torch::Tensor& images) const;
  /// The U-Net's noise prediction for x_t [N,C',h,w] at integer timesteps t [N] (i64) given text
  /// embeddings context [N,L,D] (encode()); v- and x0-models converted to eps.
  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context) const;

  struct Parts;

 private:
  explicit SdPipeline(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace diffmem::diffusion
