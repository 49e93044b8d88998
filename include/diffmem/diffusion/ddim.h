#pragma once
// DDIM sampling, step for step diffusers' DDIMScheduler.step (epsilon, v or x0 prediction,
// eta, set_alpha_to_one, clip_sample or dynamic thresholding, use_clipped_model_output = false). As in diffusers the previous
// timestep is always t - T / steps (integer division), whatever the spacing.
#include "diffmem/diffusion/schedule.h"
#include "diffmem/diffusion/scheduler.h"

namespace diffmem::diffusion {

class DdimScheduler : public Scheduler {
 public:
  /// num_inference_steps in [1, T]; eta >= 0 (0 = deterministic DDIM, 1 = DDPM-like variance).
  DdimScheduler(NoiseSchedule schedule, int64_t num_inference_steps, double eta = 0.0);

  const std::vector<int64_t>& timesteps() const override { return timesteps_; }
  bool needs_noise(int64_t) const override { return eta_ > 0; }
  std::string name() const override { return "ddim"; }
  int64_t previous_timestep(int64_t t) const { return t - stride_; }
  double eta() const { return eta_; }
  const NoiseSchedule& schedule() const { return schedule_; }

 protected:
  StepOutput do_step(const torch::Tensor& model_output, int64_t t, const torch::Tensor& sample,
                     const torch::Tensor& noise) const override;

 private:
  NoiseSchedule schedule_;
  std::vector<int64_t> timesteps_;
  int64_t stride_;
  double eta_;
};

}  // namespace diffmem::diffusion
