#pragma once
// Adam with linear warmup and global-norm gradient clipping, written out rather than taken from
// torch::optim so that its whole state is a set of named tensors: checkpoints are safetensors files
// and behave the same under libtorch 1.13 and 2.x.
#include <torch/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace diffmem::train {

struct AdamOptions {
  double lr = 2e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 added to the gradient (torch.optim.Adam semantics)
  int64_t warmup_steps = 0;   // lr ramps linearly from lr/warmup to lr over the first steps
  double grad_clip = 1.0;     // max global L2 norm of the gradients; <= 0 disables
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct StepStats {
  double grad_norm = 0.0;  // before clipping
  double lr = 0.0;         // used for this step
};

class Adam {
 public:
  Adam(NamedTensors params, AdamOptions options);
  /// One update from the gradients currently in the parameters' .grad(); `step` is 0-based.
  StepStats step(int64_t step);
  void zero_grad();
  /// "exp_avg/<name>" and "exp_avg_sq/<name>" for every parameter.
  std::map<std::string, torch::Tensor> state() const;
  /// Restores state() output; throws diffmem::Error naming a missing or mis-shaped tensor.
  void load_state(const std::map<std::string, torch::Tensor>& state, const std::string& where);
  double lr_at(int64_t step) const;

 private:
  NamedTensors params_;
  std::vector<torch::Tensor> m_, v_;
  AdamOptions opt_;
};

/// Exponential moving average of parameters (the weights a trained model ships with).
class Ema {
 public:
  Ema(const NamedTensors& params, double decay);
  /// One update after optimizer step `step` (0-based), with diffusers' EMAModel warm-up: the
  /// decay used is min(decay, (1 + step) / (10 + step)), and 0 at step 0 (a copy). Without the
  /// warm-up a 0.999 average would still hold 22% of the random initial weights after 1500 steps.
  void update(const NamedTensors& params, int64_t step);
  /// The decay update(…, step) applies.
  double decay_at(int64_t step) const;
  const NamedTensors& weights() const { return shadow_; }
  void load(const std::map<std::string, torch::Tensor>& weights, const std::string& where);

 private:
  NamedTensors shadow_;
  double decay_;
};

}  // namespace diffmem::train
