#include "diffmem/train/optimizer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"
#include "optimizer_kernels.h"

namespace diffmem::train {

bool flatten_parameters(const NamedTensors& params) {
  if (params.empty()) return false;
  const torch::Tensor& first = params.front().second;
  int64_t total = 0;
  for (const auto& [name, p] : params) {
    if (p.scalar_type() != first.scalar_type() || p.device() != first.device()) return false;
    total += p.numel();
  }
  if (contiguous_span(params).defined()) return true;  // already flat
  torch::NoGradGuard no_grad;
  const auto options = first.options().requires_grad(false);
  torch::Tensor values = torch::empty({total}, options), grads = torch::zeros({total}, options);
  int64_t offset = 0;
  for (const auto& [name, p] : params) {
    const int64_t n = p.numel();
    torch::Tensor v = values.narrow(0, offset, n).view(p.sizes());
    v.copy_(p.detach());
    torch::Tensor g = grads.narrow(0, offset, n).view(p.sizes());
    if (p.grad().defined()) g.copy_(p.grad());
    torch::Tensor handle = p;  // the same Variable: set_data changes it for every holder
    handle.set_data(v);
    handle.mutable_grad() = g;
    offset += n;
  }
  return true;
}

torch::Tensor contiguous_span(const NamedTensors& params) {
  if (params.empty()) return {};
  const torch::Tensor& first = params.front().second;
  int64_t next = first.storage_offset(), total = 0;
  for (const auto& [name, p] : params) {
    if (!p.is_contiguous() || p.scalar_type() != first.scalar_type() ||
        !p.storage().is_alias_of(first.storage()) || p.storage_offset() != next)
      return {};
    next += p.numel();
    total += p.numel();
  }
  return first.detach().as_strided({total}, {1}, first.storage_offset());
}

Adam::Adam(NamedTensors params, AdamOptions options) : params_(std::move(params)), opt_(options) {
  if (flatten_parameters(params_)) {
    values_ = contiguous_span(params_);
    // The gradient buffer: the span of the gradient views flatten_parameters set up (undefined
    // when the parameters were flat already but their gradients are not).
    NamedTensors grads;
    for (const auto& [name, p] : params_)
      if (p.grad().defined()) grads.emplace_back(name, p.grad());
    if (grads.size() == params_.size()) grads_ = contiguous_span(grads);
  }
  if (values_.defined() && grads_.defined()) {
    m_flat_ = torch::zeros_like(values_);
    v_flat_ = torch::zeros_like(values_);
    int64_t offset = 0;
    for (auto& [name, p] : params_) {
      m_.push_back(m_flat_.narrow(0, offset, p.numel()).view(p.sizes()));
      v_.push_back(v_flat_.narrow(0, offset, p.numel()).view(p.sizes()));
      offset += p.numel();
    }
    return;
  }
  values_ = grads_ = torch::Tensor();
  for (auto& [name, p] : params_) {
    m_.push_back(torch::zeros_like(p));
    v_.push_back(torch::zeros_like(p));
  }
}

double Adam::lr_at(int64_t step) const {
  if (opt_.warmup_steps <= 0) return opt_.lr;
  return opt_.lr * std::min(1.0, static_cast<double>(step + 1) / opt_.warmup_steps);
}

bool Adam::gather_grads() {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  bool all = true;
  for (auto& [name, p] : params_) {
    const int64_t n = p.numel();
    const torch::Tensor& g = p.grad();
    if (!g.defined()) {
      all = false;
    } else if (grads_.defined() && g.data_ptr() != grads_.narrow(0, offset, n).data_ptr()) {
      torch::Tensor view = grads_.narrow(0, offset, n).view(p.sizes());
      view.copy_(g);
      p.mutable_grad() = view;
    }
    offset += n;
  }
  return all;
}

void Adam::zero_grad() {
  if (grads_.defined() && gather_grads()) {
    grads_.zero_();
    return;
  }
  for (auto& [name, p] : params_) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
}

StepStats Adam::step(int64_t step) {
  torch::NoGradGuard no_grad;
  StepStats stats;
  stats.lr = lr_at(step);
  const bool flat = grads_.defined() && gather_grads();
  // Global gradient norm, as torch.nn.utils.clip_grad_norm_ computes it (over one buffer when
  // flat: the same value up to float summation order).
  double total = 0.0;
  // On the CPU a flat float buffer goes through the single-pass kernels of optimizer_kernels.h.
  const bool cpu_flat = flat && grads_.is_cpu() && grads_.scalar_type() == torch::kFloat;
  if (cpu_flat) {
    // In double, in a fixed order: the same bytes whatever the thread count, and no float
    // summation error on 10⁷ terms.
    total = std::sqrt(detail::sum_of_squares(grads_.data_ptr<float>(), grads_.numel()));
  } else if (flat) {
    total = grads_.norm(2).item<double>();
  } else {
    std::vector<torch::Tensor> norms;
    for (auto& [name, p] : params_)
      if (p.grad().defined()) norms.push_back(p.grad().norm(2).reshape({1}));
    total = norms.empty() ? 0.0 : torch::cat(norms).norm(2).item<double>();
  }
  stats.grad_norm = total;
  double clip_coef = 1.0;
  if (opt_.grad_clip > 0 && total > opt_.grad_clip) clip_coef = opt_.grad_clip / (total + 1e-6);

  const double b1 = opt_.beta1, b2 = opt_.beta2;
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(step + 1));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(step + 1));
  const double step_size = stats.lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  auto update = [&](torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& m, torch::Tensor& v) {
    torch::Tensor g = grad;
    if (clip_coef != 1.0) g = g * clip_coef;
    if (opt_.weight_decay != 0.0) g = g + opt_.weight_decay * p;
    m.mul_(b1).add_(g, 1.0 - b1);
    v.mul_(b2).addcmul_(g, g, 1.0 - b2);
    torch::Tensor denom = (v.sqrt() / bc2_sqrt).add_(opt_.eps);
    p.addcdiv_(m, denom, -step_size);
  };
  if (cpu_flat) {
    detail::AdamScalars s;
    s.grad_scale = static_cast<float>(clip_coef);
    s.weight_decay = static_cast<float>(opt_.weight_decay);
    s.beta1 = static_cast<float>(b1);
    s.one_minus_beta1 = static_cast<float>(1.0 - b1);
    s.beta2 = static_cast<float>(b2);
    s.one_minus_beta2 = static_cast<float>(1.0 - b2);
    s.bc2_sqrt = static_cast<float>(bc2_sqrt);
    s.eps = static_cast<float>(opt_.eps);
    s.step_size = static_cast<float>(step_size);
    detail::adam_update(values_.data_ptr<float>(), grads_.data_ptr<float>(),
                        m_flat_.data_ptr<float>(), v_flat_.data_ptr<float>(), values_.numel(), s);
    return stats;
  }
  if (flat) {
    update(values_, grads_, m_flat_, v_flat_);
    return stats;
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i].second;
    if (!p.grad().defined()) continue;
    update(p, p.grad(), m_[i], v_[i]);
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
  const torch::Tensor span = contiguous_span(params);
  if (span.defined()) {
    flat_ = span.clone();
    int64_t offset = 0;
    for (auto& [name, p] : params) {
      shadow_.emplace_back(name, flat_.narrow(0, offset, p.numel()).view(p.sizes()));
      offset += p.numel();
    }
    return;
  }
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
  if (flat_.defined()) {
    const torch::Tensor span = contiguous_span(params);
    if (span.defined() && span.numel() == flat_.numel()) {
      if (flat_.is_cpu() && flat_.scalar_type() == torch::kFloat &&
          span.scalar_type() == torch::kFloat) {
        detail::ema_update(flat_.data_ptr<float>(), span.data_ptr<float>(), flat_.numel(),
                           static_cast<float>(d), static_cast<float>(1.0 - d));
        return;
      }
      flat_.mul_(d).add_(span, 1.0 - d);
      return;
    }
  }
  for (size_t i = 0; i < params.size(); ++i)
    shadow_[i].second.mul_(d).add_(params[i].second.detach(), 1.0 - d);
}

void Ema::load(const std::map<std::string, torch::Tensor>& weights, const std::string& where) {
  for (auto& [name, t] : shadow_) copy_named(weights, name, t, where);
}

}  // namespace diffmem::train
