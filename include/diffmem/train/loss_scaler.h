#pragma once
// Dynamic loss scaling for fp16 training (torch.cuda.amp.GradScaler's rule): the loss is
// multiplied by a scale before backward so that small fp16 gradients do not flush to zero; the
// gradients are divided by it before the optimizer sees them. A step whose gradients hold an inf
// or NaN is skipped and the scale halves; after `growth_interval` good steps in a row it doubles.
// Its state travels in the training state's metadata ("loss_scale"), so a resumed fp16 run goes on
// with the scale it had. Off (bf16, fp32) it does nothing and records nothing.
#include <cstdint>
#include <map>
#include <string>

#include "diffmem/train/optimizer.h"

namespace diffmem::train {

class LossScaler {
 public:
  explicit LossScaler(bool enabled, double initial_scale = 65536.0, int64_t growth_interval = 2000);

  bool enabled() const { return enabled_; }
  double scale() const { return scale_; }
  int64_t good_steps() const { return good_steps_; }

  /// loss × scale (the loss itself when off).
  torch::Tensor scaled(const torch::Tensor& loss) const;
  /// Divides every defined gradient by the scale and updates the scale. Returns false when a
  /// gradient was not finite: the step must then be skipped (the gradients are left as they are;
  /// zero_grad clears them). Always true when off.
  bool unscale_and_update(const NamedTensors& params);

  /// {"loss_scale": "<scale> <good steps>"} when on, {} when off.
  std::map<std::string, std::string> metadata() const;
  /// Takes the state from a training state's metadata (absent: keeps the initial scale); a value
  /// that is not a positive finite scale and a non-negative count is refused naming `where`.
  void restore(const std::map<std::string, std::string>& metadata, const std::string& where);

 private:
  bool enabled_;
  double scale_;
  int64_t growth_interval_;
  int64_t good_steps_ = 0;
};

}  // namespace diffmem::train
