#pragma once
// Score-SDE VE sampling: diffusers' ScoreSdeVePipeline with its ScoreSdeVeScheduler (Song et al.'s
// predictor-corrector sampler: Langevin corrector steps, then a reverse-diffusion predictor step,
// over geometric noise levels sigma_min..sigma_max), for UNet2DModels with time_embedding_type
// "fourier" (ncsnpp-style models), whose input is the noise level sigma and whose output is the
// score.
//
// One deliberate difference: diffusers' corrector sizes its step from norms averaged over the
// batch, so an image depends on the batch it was drawn in. Here every image uses its own norms:
// the same image in any batch, equal to diffusers' image from a batch of one
// (generator=[torch.Generator().manual_seed(seed)]).
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/diffusion/sample_options.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/model/denoiser.h"

namespace diffmem::diffusion {

/// The scheduler's tables for `steps` inference steps (float32, as diffusers computes them):
/// timesteps = linspace(1, sampling_eps, steps); sigmas[i] = sigma_min (sigma_max/sigma_min)^t_i,
/// the model's input; discrete_sigmas = exp(linspace(log sigma_min, log sigma_max, steps)), the
/// predictor's.
struct ScoreSdeVeTables {
  torch::Tensor timesteps, sigmas, discrete_sigmas;  // [steps] f32
};
ScoreSdeVeTables score_sde_ve_tables(const SchedulerConfig& config, int64_t steps);

/// One predictor step (step_pred) at timesteps[step]: returns {prev_sample, prev_sample_mean}.
/// noise: [N,C,H,W], the step's standard normal draw.
std::pair<torch::Tensor, torch::Tensor> score_sde_ve_predict(const ScoreSdeVeTables& tables,
                                                             int64_t step,
                                                             const torch::Tensor& model_output,
                                                             const torch::Tensor& sample,
                                                             const torch::Tensor& noise);
/// One corrector step (step_correct) with per-image norms (see above).
torch::Tensor score_sde_ve_correct(const SchedulerConfig& config, const torch::Tensor& model_output,
                                   const torch::Tensor& sample, const torch::Tensor& noise);

/// Samples seeds.size() images → [N,C,H,W] f32 CPU in [0, 1] (the pipeline's sample_mean
/// clamped; unit_to_uint8_nhwc gives its uint8 images). options.steps 0 = the pipeline's default
/// (2000); options.batch never changes the images. class_labels as for sample() (sampler.h).
torch::Tensor sample_score_sde_ve(model::Denoiser& denoiser, const SchedulerConfig& config,
                                  const std::vector<uint64_t>& seeds, const SampleOptions& options,
                                  const ProgressFn& progress = nullptr,
                                  const std::vector<int64_t>& class_labels = {});

/// [N,C,H,W] f32 in [0,1] → [N,H,W,C] u8: round(x * 255), half to even, as numpy_to_pil.
torch::Tensor unit_to_uint8_nhwc(const torch::Tensor& x);

}  // namespace diffmem::diffusion
