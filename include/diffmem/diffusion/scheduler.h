#pragma once
// What a sampling loop sees of a reverse process: the timesteps to visit and one step x_t → x_prev.
// Implementations: DdpmScheduler (ddpm.h), DdimScheduler (ddim.h).
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace diffmem::diffusion {

struct StepOutput {
  torch::Tensor prev_sample;           // [N,C,H,W] f32, x_{prev}
  torch::Tensor pred_original_sample;  // [N,C,H,W] f32, predicted (and maybe clipped) x0
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  /// Descending timesteps, diffusers' scheduler.timesteps after set_timesteps.
  virtual const std::vector<int64_t>& timesteps() const = 0;
  /// True when step(t) adds fresh noise; only then is noise drawn, so a generator's stream
  /// advances exactly as in diffusers.
  virtual bool needs_noise(int64_t t) const = 0;
  virtual std::string name() const = 0;
  /// True when the model's output carries a learned variance (2C channels; DDPM learned_range).
  virtual bool learns_variance() const { return false; }
  /// Throws diffmem::Error naming `where` (the model) unless `output` can be stepped with
  /// `sample`: the same shape, or twice its channels when learns_variance().
  void check_output(const torch::Tensor& output, const torch::Tensor& sample, const std::string& where) const;

  /// model_output (eps, v or x0 as the config's prediction_type says; 2C channels when
  /// learns_variance()), sample (x_t): [N,C,H,W] f32 on one device. `noise` is the variance noise
  /// for this step ([N,C,H,W], any device; moved to sample's); it may be undefined when
  /// !needs_noise(t).
  StepOutput step(const torch::Tensor& model_output, int64_t t, const torch::Tensor& sample,
                  const torch::Tensor& noise) const;
  /// Same, drawing the noise (when needed) from one CPU generator per image (noise.h).
  StepOutput step(const torch::Tensor& model_output, int64_t t, const torch::Tensor& sample,
                  std::vector<at::Generator>& per_image) const;

 protected:
  virtual StepOutput do_step(const torch::Tensor& model_output, int64_t t,
                             const torch::Tensor& sample, const torch::Tensor& noise) const = 0;
};

}  // namespace diffmem::diffusion
