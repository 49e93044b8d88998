#pragma once
// The inpainting attack on one group of targets (Carlini et al. §5.3): hide part of each target,
// let the model complete it from many seeds, rank the completions by the model's own denoising
// loss (an attacker without the original can still do that), keep the best few, and measure how
// close they come to the original on the hidden region. Members come back closer.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "diffmem/attack/inpaint_mask.h"
#include "diffmem/attack/inpaint_options.h"
#include "diffmem/core/progress.h"
#include "diffmem/diffusion/inpaint.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/json.h"
#include "diffmem/model/denoiser.h"

namespace diffmem::attack {



struct InpaintTarget {
  int64_t row = 0;       // data row
  int64_t id = 0;        // source id (seeds derive from it, so a target's result is its own)
  bool member = false;
};

struct InpaintTargetResult {
  InpaintTarget target;
  std::vector<double> losses;     // [candidates] ranking loss of each completion
  std::vector<double> distances;  // [candidates] masked normalized ℓ2 to the original
  std::vector<int64_t> kept;      // the `keep` candidates with the lowest loss, lowest first
  double best_distance = 0;       // min distance among the kept: the attack's score (negated)
  double rank1_distance = 0;      // distance of the lowest-loss completion
  double rank1_loss = 0;
  double oracle_distance = 0;     // min distance over every candidate (what ranking could reach)
  torch::Tensor kept_images;      // [keep,C,H,W] f32 CPU in [-1,1], in `kept` order
};

/// Seeds of target `id`'s completions: candidate j uses derive_seed(seed, id) + j.
std::vector<uint64_t> candidate_seeds(uint64_t seed, int64_t id, int64_t candidates);

/// The ranking noise of target `id`: [draws,C,H,W] f32 CPU from one generator seeded with
/// derive_seed(derive_seed(seed, kRankStream), id); every candidate of a target sees the same
/// draws, so their losses differ only through the completions.
torch::Tensor ranking_noise(uint64_t seed, int64_t id, int64_t draws, int64_t channels,
                            int64_t height, int64_t width);

/// sqrt(mean((a − b)²)) on [0,1] pixels ((x + 1) / 2) over the hidden pixels (known == 0) of every
/// channel. a: [N,C,H,W], b: [C,H,W] or [N,C,H,W], known: [1,1,H,W] — f32 in [-1,1].
std::vector<double> masked_l2(const torch::Tensor& a, const torch::Tensor& b,
                              const torch::Tensor& known);

/// Mean over noise[d] of mean((eps_θ(x_t, t) − noise[d])²) for each image, in double, draws summed
/// in order. images: [N,C,H,W], noise: [D,C,H,W] (shared by all images) f32. `batch` model inputs
/// per forward pass. Runs under NoGradGuard.
std::vector<double> ranking_losses(model::Denoiser& denoiser, const diffusion::NoiseSchedule& schedule,
                                   const torch::Tensor& images, const torch::Tensor& noise,
                                   int64_t t, int64_t batch);

/// Indices of the `keep` lowest losses, lowest first; ties go to the lower index.
std::vector<int64_t> rank_candidates(const std::vector<double>& losses, int64_t keep);

/// The attack on each target: x0 [T,C,H,W] f32 in [-1,1] holds the targets' images in order.
/// Batches all targets' candidates through the denoiser together (never changes a result).
std::vector<InpaintTargetResult> attack_targets(model::Denoiser& denoiser,
                                                const diffusion::NoiseSchedule& schedule,
                                                const torch::Tensor& x0,
                                                const std::vector<InpaintTarget>& targets,
                                                const InpaintMask& mask,
                                                const InpaintAttackOptions& options,
                                                const ProgressFn& progress = nullptr);

}  // namespace diffmem::attack
