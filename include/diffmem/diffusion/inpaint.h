#pragma once
// Inpainting with an unconditional model (RePaint, Lugmayr et al. 2022): run the reverse process
// and, after every step, overwrite the known pixels with the original forward-noised to the new
// timestep, so the model only ever fills in the unknown region in harmony with the known one.
// Resampling ("jumps" of length 1): after a step x_t → x_prev, diffuse x_prev back to x_t with
// q(x_t | x_prev) and step again, so information from the known region reaches the unknown one.
// Works with every Scheduler (DDPM, DDIM) and draws all noise from one CPU generator per image, so
// an image is the same in any batch and on any device.
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/json.h"
#include "diffmem/model/denoiser.h"

namespace diffmem::diffusion {

/// Completes `known` where `mask` is 0.
///   known: [N,C,H,W] f32 in [-1,1] (values under mask = 0 are ignored), any device;
///   mask:  [N,1,H,W] or [1,1,H,W], 1 = known, 0 = to inpaint (only 0 and 1 allowed), any dtype;
///   seeds: N seeds; image i draws its start, step and re-noising noise from
///          make_cpu_generator(seeds[i]) alone, in the order: x_T, then per step the scheduler's
///          noise (if any), the known region's noise for the new timestep, the resampling noise.
/// Returns [N,C,H,W] f32 CPU clamped to [-1,1] whose known pixels equal `known` exactly.
/// Runs under NoGradGuard on denoiser.device(). Progress: stage "inpaint", unit "steps".
torch::Tensor inpaint(model::Denoiser& denoiser, const NoiseSchedule& schedule,
                      const torch::Tensor& known, const torch::Tensor& mask,
                      const std::vector<uint64_t>& seeds, const InpaintOptions& options,
                      const ProgressFn& progress = nullptr);

/// Denoiser calls inpaint makes per image batch: steps · r − (r − 1).
int64_t inpaint_forwards(const NoiseSchedule& schedule, const InpaintOptions& options);

}  // namespace diffmem::diffusion
