#include "diffmem/train/loss_scaler.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "diffmem/core/error.h"
#include "diffmem/core/format.h"

namespace diffmem::train {

LossScaler::LossScaler(bool enabled, double initial_scale, int64_t growth_interval)
    : enabled_(enabled), scale_(initial_scale), growth_interval_(growth_interval) {
  check(initial_scale > 0 && std::isfinite(initial_scale), "loss scale", "a positive finite number",
        core::exact_number(initial_scale));
  check(growth_interval >= 1, "loss scale growth interval", "at least 1", std::to_string(growth_interval));
}

torch::Tensor LossScaler::scaled(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

bool LossScaler::unscale_and_update(const NamedTensors& params) {
  if (!enabled_) return true;
  torch::NoGradGuard no_grad;
  // One finiteness flag per gradient, gathered and read once: one device sync per step.
  std::vector<torch::Tensor> finite;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    finite.push_back(torch::isfinite(p.grad()).all().reshape({1}));
  }
  const bool ok = finite.empty() || torch::cat(finite).all().item<bool>();
  if (!ok) {
    scale_ /= 2;
    good_steps_ = 0;
    return false;
  }
  const double inv = 1.0 / scale_;
  for (const auto& [name, p] : params)
    if (p.grad().defined()) p.mutable_grad().mul_(inv);
  if (++good_steps_ >= growth_interval_) {
    scale_ *= 2;
    good_steps_ = 0;
  }
  return true;
}

std::map<std::string, std::string> LossScaler::metadata() const {
  if (!enabled_) return {};
  return {{"loss_scale", core::exact_number(scale_) + " " + std::to_string(good_steps_)}};
}

void LossScaler::restore(const std::map<std::string, std::string>& metadata, const std::string& where) {
  const auto it = metadata.find("loss_scale");
  if (!enabled_ || it == metadata.end()) return;
  std::istringstream in(it->second);
  double s = 0;
  long long g = -1;
  std::string rest;
  if (!(in >> s >> g) || (in >> rest) || !(s > 0) || !std::isfinite(s) || g < 0)
    fail(where + ": metadata 'loss_scale'", "'<positive scale> <good steps>'", "'" + it->second.substr(0, 40) + "'");
  scale_ = s;
  good_steps_ = g;
}

}  // namespace diffmem::train
