#include "diffmem/train/optimizer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"

namespace diffmem::train {

Adam::Adam(NamedTensors params, AdamOptions options) : params_(std::move(params)), opt_(options) {
  for (auto& [name, p] : params_) {
    m_.push_back(torch::zeros_like(p));
    v_.push_back(torch::zeros_like(p));
  }
}

double Adam::lr_at(int64_t step) const {
  if (opt_.warmup_steps <= 0) return opt_.lr;
  return opt_.lr * std::min(1.0, static_cast<double>(step + 1) / opt_.warmup_steps);
}

void Adam::zero_grad() {
  for (auto& [name, p] : params_) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
}

StepStats Adam::step(int64_t step) {
  torch::NoGradGuard no_grad;
  StepStats stats;
  stats.lr = lr_at(step);
  // Global gradient norm, as torch.nn.utils.clip_grad_norm_ computes it.
  std::vector<torch::Tensor> norms;
  for (auto& [name, p] : params_)
    if (p.grad().defined()) norms.push_back(p.grad().norm(2).reshape({1}));
  double total = norms.empty() ? 0.0 : torch::cat(norms).norm(2).item<double>();
  stats.grad_norm = total;
  double clip_coef = 1.0;
  if (opt_.grad_clip > 0 && total > opt_.grad_clip) clip_coef = opt_.grad_clip / (total + 1e-6);

  const double b1 = opt_.beta1, b2 = opt_.beta2;
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(step + 1));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(step + 1));
  const double step_size = stats.lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i].second;
    if (!p.grad().defined()) continue;
    torch::Tensor g = p.grad();
    if (clip_coef != 1.0) g = g * clip_coef;
    if (opt_.weight_decay != 0.0) g = g + opt_.weight_decay * p;
    m_[i].mul_(b1).add_(g, 1.0 - b1);
    v_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    torch::Tensor denom = (v_[i].sqrt() / bc2_sqrt).add_(opt_.eps);
    p.addcdiv_(m_[i], denom, -step_size);
  }
  return stats;
}

std::map<std::string, torch::Tensor> Adam::state() const {
  std::map<std::string, torch::Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out["exp_avg/" + params_[i].first] = m_[i];
    out["exp_avg_sq/" + params_[i].first] = v_[i];
  }
  return out;
}

static void copy_named(const std::map<std::string, torch::Tensor>& from, const std::string& key,
                       torch::Tensor& to, const std::string& where) {
  auto it = from.find(key);
  if (it == from.end()) fail(where, "tensor '" + key + "'", "none");
  if (it->second.sizes() != to.sizes())
    fail(where, "'" + key + "' of shape " + c10::str(to.sizes()),
         "shape " + c10::str(it->second.sizes()));
  torch::NoGradGuard no_grad;
  to.copy_(it->second);
}

void Adam::load_state(const std::map<std::string, torch::Tensor>& state, const std::string& where) {
  for (size_t i = 0; i < params_.size(); ++i) {
    copy_named(state, "exp_avg/" + params_[i].first, m_[i], where);
    copy_named(state, "exp_avg_sq/" + params_[i].first, v_[i], where);
  }
}

Ema::Ema(const NamedTensors& params, double decay) : decay_(decay) {
  for (auto& [name, p] : params) shadow_.emplace_back(name, p.detach().clone());
}

double Ema::decay_at(int64_t step) const {
  if (step <= 0) return 0.0;
  const double s = static_cast<double>(step);
  return std::min(decay_, (1.0 + s) / (10.0 + s));
}

void Ema::update(const NamedTensors& params, int64_t step) {
  torch::NoGradGuard no_grad;
  const double d = decay_at(step);
  for (size_t i = 0; i < params.size(); ++i)
    shadow_[i].second.mul_(d).add_(params[i].second.detach(), 1.0 - d);
}

void Ema::load(const std::map<std::string, torch::Tensor>& weights, const std::string& where) {
  for (auto& [name, t] : shadow_) copy_named(weights, name, t, where);
}

}  // namespace diffmem::train
