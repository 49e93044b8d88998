#pragma once
// The DDPM training objective (Ho et al.; diffusers' train_unconditional): predict the noise
// added to x0 at timestep t, mean squared error. Membership inference scores the same quantity
// one example at a time, so the per-example losses come with the batch loss.
#include <torch/types.h>

#include "diffmem/diffusion/schedule.h"
#include "diffmem/model/denoiser.h"

namespace diffmem::diffusion {

struct LossOutput {
  torch::Tensor loss;         // [] f32: mean over every element (F.mse_loss), differentiable
  torch::Tensor per_example;  // [N] f32: mean over C,H,W of each example, differentiable
  torch::Tensor prediction;   // [N,C,H,W] f32: the denoiser's eps for x_t
};

/// x0: [N,C,H,W] f32 in [-1,1]; t: [N] i64 in [0,T); eps: [N,C,H,W] f32 — all on the denoiser's
/// device. x_t = add_noise(schedule, x0, eps, t); loss = mean((denoiser(x_t, t) - eps)^2).
/// Runs with gradients as the caller's mode has them (wrap in NoGradGuard for attacks).
LossOutput noise_prediction_loss(model::Denoiser& denoiser, const NoiseSchedule& schedule,
                                 const torch::Tensor& x0, const torch::Tensor& t,
                                 const torch::Tensor& eps);

}  // namespace diffmem::diffusion
