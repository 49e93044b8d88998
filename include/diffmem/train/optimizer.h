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

/// Moves the parameters' values into one contiguous buffer and their gradients into another: each
/// parameter (a leaf Variable, so every module holding it sees the change) becomes a view into the
/// value buffer and its .grad() a view into the gradient buffer, which backward() then accumulates
/// into in place. Clipping, Adam and the EMA then run as a handful of whole-buffer operations
/// instead of ~10 small ones per tensor. Does nothing (and returns false) when the parameters
/// differ in dtype or device or there are none.
bool flatten_parameters(const NamedTensors& params);

/// The 1-D tensor spanning `params` when they lie back to back, in order, in one storage (as after
/// flatten_parameters); an undefined tensor otherwise.
torch::Tensor contiguous_span(const NamedTensors& params);

class Adam {
 public:
  /// Flattens the parameters (flatten_parameters) so that a step is a few whole-buffer operations.
  /// A gradient replaced by a new tensor is copied back into the buffer at the next step; with
  /// any gradient undefined the step goes tensor by tensor and skips those parameters, as
  /// torch.optim.Adam does.
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
  /// True when every parameter's .grad() is defined; re-points a replaced gradient into grads_.
  bool gather_grads();
  NamedTensors params_;
  std::vector<torch::Tensor> m_, v_;  // views into m_flat_ / v_flat_ when the parameters are flat
  torch::Tensor values_, grads_, m_flat_, v_flat_;  // defined when the parameters are flat
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
  NamedTensors shadow_;  // views into flat_ when the parameters were flat at construction
  torch::Tensor flat_;
  double decay_;
};

}  // namespace diffmem::train
