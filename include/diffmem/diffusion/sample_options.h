#pragma once
// The options of the sampling loop and of inpainting, torch-free, with their field lists
// (io/fields.h): `io::read_options<SampleOptions>(j, where)` reads one strictly and validates it.
#include <cstdint>
#include <optional>
#include <string>

#include "diffmem/io/fields.h"

namespace diffmem::diffusion {

struct SampleOptions {
  std::string sampler = "ddpm";  // ddpm | ddim
  int64_t steps = 0;             // 0 = the pipeline's default: T for ddpm, 50 for ddim
  double eta = 0.0;              // ddim only
  std::optional<bool> clip;      // unset = the scheduler config's clip_sample
  int64_t batch = 64;            // images per denoiser call; never changes the images
  // fp32 | bf16 | fp16: the denoiser's forward under autocast (core/precision.h; fp16 on CUDA
  // only); the noise, the scheduler's arithmetic and the images stay f32.
  std::string precision = "fp32";
};
DIFFMEM_FIELDS(SampleOptions, sampler, steps, eta, clip, batch, precision)

/// Throws diffmem::Error naming `where` and the field for an unusable value.
void validate(const SampleOptions& options, const std::string& where);

struct InpaintOptions {
  std::string sampler = "ddim";  // ddpm | ddim
  int64_t steps = 50;            // 0 = the pipeline default (T for ddpm, 50 for ddim)
  double eta = 0.0;              // ddim only
  /// RePaint's resampling count r: each reverse step is taken r times, diffusing back in between
  /// (1 = plain replacement, no resampling). The last step (to x_0) is taken once.
  int64_t resample_jumps = 1;
  std::optional<bool> clip;      // unset = the scheduler config's clip_sample
  int64_t batch = 64;            // images per denoiser call; never changes the images
};
DIFFMEM_FIELDS(InpaintOptions, sampler, steps, eta, resample_jumps, clip, batch)

/// Throws diffmem::Error naming `where` and the field for an unusable value.
void validate(const InpaintOptions& options, const std::string& where);
/// The sampling options of the underlying reverse process.
SampleOptions sample_options(const InpaintOptions& options);

}  // namespace diffmem::diffusion
