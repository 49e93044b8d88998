#pragma once
// Ancestral DDPM sampling, step for step diffusers' DDPMScheduler.step (epsilon, v or x0
// prediction; fixed_small / fixed_large / learned_range / learned variance; clip_sample or
// dynamic thresholding), including strided sampling with fewer steps
// than T: the previous timestep is the next entry of timesteps(), -1 after the last.
#include "diffmem/diffusion/schedule.h"
#include "diffmem/diffusion/scheduler.h"

namespace diffmem::diffusion {

class DdpmScheduler : public Scheduler {
 public:
  /// num_inference_steps in [1, T]; variance_type, clip_sample(_range), timestep_spacing and
  /// steps_offset come from schedule.config().
  DdpmScheduler(NoiseSchedule schedule, int64_t num_inference_steps);

  const std::vector<int64_t>& timesteps() const override { return timesteps_; }
  bool needs_noise(int64_t t) const override { return t > 0; }
  std::string name() const override { return "ddpm"; }
  bool learns_variance() const override;
  /// diffusers' previous_timestep: the entry after t in timesteps(), or -1.
  int64_t previous_timestep(int64_t t) const;
  const NoiseSchedule& schedule() const { return schedule_; }

 protected:
  StepOutput do_step(const torch::Tensor& model_output, int64_t t, const torch::Tensor& sample,
                     const torch::Tensor& noise) const override;

 private:
  NoiseSchedule schedule_;
  std::vector<int64_t> timesteps_;
};

}  // namespace diffmem::diffusion
