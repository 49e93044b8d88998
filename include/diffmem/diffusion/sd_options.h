#pragma once
// The options of the text-to-image pipeline (sd_pipeline.h) and of its screening probe, torch-free,
// with their field lists (io/fields.h).
#include <cstdint>
#include <string>

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

/// What a memorization screen (attack/screen.h) reads off the start of a generation.
struct SdProbeOptions {
  int64_t first_steps = 1;   // steps of the guided trajectory whose text-conditional part is measured
  int64_t low_from_end = 3;  // the low-noise pass at timesteps[steps - low_from_end]; 0 = none
};
DIFFMEM_FIELDS(SdProbeOptions, first_steps, low_from_end)

/// Throws naming `where` and the field unless the probe fits the sampler's steps and the
/// guidance scale is > 1 (the probe measures the guidance direction); validates o too.
void validate(const SdPipelineOptions& o, const SdProbeOptions& probe, const std::string& where);

}  // namespace diffmem::diffusion
