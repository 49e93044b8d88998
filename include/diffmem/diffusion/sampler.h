#pragma once
// The sampling loop (diffusers' DDPMPipeline / DDIMPipeline) over a Denoiser, with one seed per
// image: image i starts from, and draws every step's noise from, a CPU generator seeded with
// seeds[i] alone, so it is the same image in any batch, any shard, on any device, and the same
// image diffusers' pipeline makes from generator=[torch.Generator().manual_seed(seeds[i]), ...].
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/diffusion/noise.h"  // image_seeds: the seeds sample() takes
#include "diffmem/diffusion/sample_options.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/diffusion/scheduler.h"
#include "diffmem/io/json.h"
#include "diffmem/model/denoiser.h"

namespace diffmem::diffusion {

/// The scheduler `options` asks for over `schedule` (with clip applied to its config).
std::unique_ptr<Scheduler> make_scheduler(const NoiseSchedule& schedule,
                                          const SampleOptions& options);

/// Samples seeds.size() images → [N,C,H,W] f32 CPU clamped to [-1,1] (C, H from the denoiser).
/// Runs under NoGradGuard on denoiser.device(). Progress: stage "sample", unit "steps",
/// total = batches × steps, detail "images k/N". A class-conditional denoiser needs one class per
/// seed in class_labels (as diffusers' unet(x, t, class_labels=...)); others take none.
torch::Tensor sample(model::Denoiser& denoiser, const NoiseSchedule& schedule,
                     const std::vector<uint64_t>& seeds, const SampleOptions& options,
                     const ProgressFn& progress = nullptr,
                     const std::vector<int64_t>& class_labels = {});

/// [N,C,H,W] f32 in [-1,1] → [N,H,W,C] u8 CPU: round((x/2 + 0.5).clamp(0,1) * 255), half to even,
/// as diffusers' pipeline output + numpy_to_pil.
torch::Tensor to_uint8_nhwc(const torch::Tensor& x);
/// [N,H,W,C] u8 → [N,C,H,W] f32 in [-1,1]: (u8/255 - 0.5)/0.5, as ToTensor + Normalize([0.5],[0.5]).
torch::Tensor from_uint8_nhwc(const torch::Tensor& u8);

/// A sampler's class labels checked against the model: one per image for a class-conditional
/// model, none for an unconditional one; a one-line error naming `where` otherwise.
void check_class_labels(const model::Denoiser& denoiser, size_t images, const std::vector<int64_t>& labels,
                        const std::string& where);
/// labels[lo, hi) as an i64 tensor on device; an undefined tensor when labels is empty.
torch::Tensor class_label_batch(const std::vector<int64_t>& labels, int64_t lo, int64_t hi, const torch::Device& device);

}  // namespace diffmem::diffusion
