#pragma once
// The schedulers Stable Diffusion pipelines run, as diffusers' StableDiffusionPipeline drives
// them: set_timesteps once, latents start as noise × init_noise_sigma, and each step i scales the
// model input (scale_model_input) and then steps with the model's output. Stateful over one run:
// PNDM keeps earlier outputs. Matched step by step to diffusers 0.42.1
// (tests/reference/model/make_scheduler_reference.py):
//   PNDMScheduler (skip_prk_steps: PLMS only, SD 1.x's default), DDIMScheduler (eta 0),
//   EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler
//   (dpmsolver++, orders 1-2, optionally Karras sigmas); epsilon, v and (where diffusers has it)
//   x0 prediction.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "diffmem/diffusion/schedule.h"

namespace diffmem::diffusion {

class SdScheduler {
 public:
  virtual ~SdScheduler() = default;
  virtual std::string name() const = 0;
  /// diffusers' scheduler.timesteps after set_timesteps: what the model is given at step i
  /// (integers for PNDM/DDIM, floats for the Euler schedulers; PNDM visits one twice).
  const std::vector<double>& timesteps() const { return timesteps_; }
  /// The scale of the starting noise (1 for PNDM/DDIM; sqrt(σmax² + 1) for Euler, leading).
  double init_noise_sigma() const { return init_noise_sigma_; }
  /// The model's input at step i: `x` (PNDM/DDIM) or x / sqrt(σ_i² + 1) (Euler).
  virtual torch::Tensor scale_model_input(const torch::Tensor& x, size_t /*i*/) const { return x; }
  /// Step i: the model's output at timesteps()[i] for `sample` → the next sample. Steps run in
  /// order from 0 (the scheduler keeps what later steps need). `noise(shape)` is asked for the
  /// step's fresh noise only by ancestral schedulers (once per step, [N,C,H,W] f32).
  virtual torch::Tensor step(const torch::Tensor& model_output, size_t i, const torch::Tensor& sample,
                             const std::function<torch::Tensor(at::IntArrayRef)>& noise) = 0;

 protected:
  std::vector<double> timesteps_;
  double init_noise_sigma_ = 1.0;
};

/// The text-to-image samplers by the names `diffmem sample --sampler` takes: pndm, ddim, euler,
/// euler_a, dpmpp_2m, dpmpp_2m_karras.
const std::vector<std::string>& sd_sampler_names();
/// The diffusers class a sampler name stands for; an unknown name throws diffmem::Error naming
/// `where` and listing the names.
const std::string& sd_sampler_class(const std::string& sampler, const std::string& where);
/// diffusers' NewScheduler.from_config(pipe.scheduler.config) for a sampler name: the folder's
/// scheduler config (as its JSON, so that keys it lacks take the new class's defaults) read as
/// that sampler's class (dpmpp_2m_karras also sets use_karras_sigmas). An empty name keeps the
/// folder's class. Throws diffmem::Error naming `where` for an unknown name.
SchedulerConfig sd_sampler_config(const io::Json& config, const std::string& sampler, const std::string& where);

/// The scheduler config.class_name names, set to `steps` inference steps. Throws diffmem::Error
/// naming the class (or the option) for one this implementation does not run.
std::unique_ptr<SdScheduler> make_sd_scheduler(const SchedulerConfig& config, int64_t steps);

}  // namespace diffmem::diffusion
