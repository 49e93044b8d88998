#include "group_norm_silu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "vec16.h"

namespace diffmem::model::detail {
namespace {


/// Everything one call works on. x, out, grad_out and grad_in are [N, C, hw] contiguous;
/// index i = n·groups + g names one (sample, group), whose cpg·hw values are contiguous.
struct Problem {
  const float* x = nullptr;
  float* out = nullptr;        // forward
  const float* grad_out = nullptr;  // backward
  float* grad_in = nullptr;    // backward
  const float* gamma = nullptr;
  const float* beta = nullptr;
  float* mean = nullptr;  // [N·groups]; written by forward, read by backward
  float* rstd = nullptr;
  double* sum_dy = nullptr;     // [N·C]: Σ over hw of ∂L/∂(group-norm output), backward
  double* sum_dy_xhat = nullptr;  // [N·C]: the same weighted by the normalized input
  int64_t groups = 0, cpg = 0, hw = 0;
  float eps = 0;
};

/// How [0, n) splits into 16-lane blocks: full blocks from 0 to full_end, then, when n is not a
/// multiple of 16, one last block of `count` lanes at `start`. When n ≥ 16 that block is a full
/// one ending at n, overlapping the block before: its first `skip` lanes were seen already (they
/// are recomputed to the same values; sums must mask them). Otherwise it is a partial block.
struct Blocks {
  int64_t full_end = 0, start = 0, count = 0, skip = 0;
  bool has_last = false;
};

DIFFMEM_ALWAYS_INLINE Blocks blocks(int64_t n) {
  Blocks b;
  const int64_t rem = n % kLanes;
  b.full_end = n - rem;
  b.has_last = rem != 0;
  if (n >= kLanes) {
    b.start = n - kLanes;
    b.count = kLanes;
    b.skip = kLanes - rem;
  } else {
    b.count = rem;
  }
  return b;
}

/// v with its first `skip` lanes zeroed.
DIFFMEM_ALWAYS_INLINE VecF keep_from(VecF v, int64_t skip) {
  const VecI lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  return lanes >= (VecI{} + static_cast<int32_t>(skip)) ? v : splat(0);
}

DIFFMEM_ALWAYS_INLINE VecF silu(VecF y) { return y * sigmoid(y); }

/// ∂silu(y)/∂y = s·(1 + y·(1 − s)) with s = sigmoid(y).
DIFFMEM_ALWAYS_INLINE VecF silu_slope(VecF y) {
  const VecF s = sigmoid(y);
  return s * (1.0f + y * (1.0f - s));
}

/// rstd·(γ d − mean(γ d) − x̂·mean(γ d x̂)) for the k values at x and d.
DIFFMEM_ALWAYS_INLINE VecF input_grad(const float* x, const float* d, int64_t k, float mean,
                                      float rstd, float g, float mean_gd, float mean_gd_xhat) {
  const VecF xhat = (load(x, k, 0.0f) - mean) * rstd;
  return (load(d, k, 0.0f) * g - mean_gd - xhat * mean_gd_xhat) * rstd;
}

DIFFMEM_ALWAYS_INLINE void forward_range(const Problem& p, int64_t begin, int64_t end) {
  const int64_t m = p.cpg * p.hw;
  const Blocks group = blocks(m), channel = blocks(p.hw);
  for (int64_t i = begin; i < end; ++i) {
    const float* x = p.x + i * m;
    float* out = p.out + i * m;
    const int64_t c0 = (i % p.groups) * p.cpg;
    // Two passes for the moments (mean, then squares about it): no cancellation when the mean
    // is large against the spread.
    VecF acc = splat(0);
    for (int64_t j = 0; j < group.full_end; j += kLanes) acc += load(x + j, kLanes, 0.0f);
    if (group.has_last) acc += keep_from(load(x + group.start, group.count, 0.0f), group.skip);
    const float mean = static_cast<float>(horizontal_sum(acc) / static_cast<double>(m));
    acc = splat(0);
    for (int64_t j = 0; j < group.full_end; j += kLanes) {
      const VecF d = load(x + j, kLanes, 0.0f) - mean;
      acc += d * d;
    }
    if (group.has_last) {
      const VecF d = load(x + group.start, group.count, mean) - mean;
      acc += keep_from(d * d, group.skip);
    }
    const double var = horizontal_sum(acc) / static_cast<double>(m);
    const float rstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(p.eps)));
    if (p.mean != nullptr) {
      p.mean[i] = mean;
      p.rstd[i] = rstd;
    }
    for (int64_t c = 0; c < p.cpg; ++c) {
      const float a = rstd * p.gamma[c0 + c];
      const float b = p.beta[c0 + c] - mean * a;
      const float* xc = x + c * p.hw;
      float* oc = out + c * p.hw;
      for (int64_t j = 0; j < channel.full_end; j += kLanes)
        store(oc + j, silu(load(xc + j, kLanes, 0.0f) * a + b), kLanes);
      if (channel.has_last)
        store(oc + channel.start, silu(load(xc + channel.start, channel.count, 0.0f) * a + b),
              channel.count);
    }
  }
}

DIFFMEM_ALWAYS_INLINE void backward_range(const Problem& p, int64_t begin, int64_t end) {
  const int64_t m = p.cpg * p.hw;
  const Blocks channel = blocks(p.hw);
  for (int64_t i = begin; i < end; ++i) {
    const float mean = p.mean[i], rstd = p.rstd[i];
    const int64_t c0 = (i % p.groups) * p.cpg;
    // Pass 1: d = ∂L/∂y for the group-norm output y (through SiLU), kept in grad_in, and its
    // per-channel sums plain and weighted by x̂ = (x − mean)·rstd.
    double group_dy = 0, group_dy_xhat = 0;
    for (int64_t c = 0; c < p.cpg; ++c) {
      const float* x = p.x + i * m + c * p.hw;
      const float* gy = p.grad_out + i * m + c * p.hw;
      float* dx = p.grad_in + i * m + c * p.hw;
      const float g = p.gamma[c0 + c];
      const float a = rstd * g;
      const float b = p.beta[c0 + c] - mean * a;
      VecF acc_dy = splat(0), acc_dy_xhat = splat(0);
      for (int64_t j = 0; j < channel.full_end; j += kLanes) {
        const VecF v = load(x + j, kLanes, 0.0f);
        const VecF d = load(gy + j, kLanes, 0.0f) * silu_slope(v * a + b);
        store(dx + j, d, kLanes);
        acc_dy += d;
        acc_dy_xhat += d * ((v - mean) * rstd);
      }
      if (channel.has_last) {
        const int64_t j = channel.start, k = channel.count;
        const VecF v = load(x + j, k, 0.0f);
        const VecF d = load(gy + j, k, 0.0f) * silu_slope(v * a + b);
        store(dx + j, d, k);
        const VecF fresh = keep_from(d, channel.skip);  // partial blocks: lanes past k hold 0
        acc_dy += fresh;
        acc_dy_xhat += fresh * ((v - mean) * rstd);
      }
      const double s1 = horizontal_sum(acc_dy), s2 = horizontal_sum(acc_dy_xhat);
      p.sum_dy[i * p.cpg + c] = s1;
      p.sum_dy_xhat[i * p.cpg + c] = s2;
      group_dy += static_cast<double>(g) * s1;
      group_dy_xhat += static_cast<double>(g) * s2;
    }
    // Pass 2: ∂L/∂x = rstd·(γ d − mean(γ d) − x̂·mean(γ d x̂)), the means over the group. It
    // rewrites grad_in in place, so an overlapping last block is computed before the blocks it
    // overlaps are rewritten, and stored after them.
    const float mean_gd = static_cast<float>(group_dy / static_cast<double>(m));
    const float mean_gd_xhat = static_cast<float>(group_dy_xhat / static_cast<double>(m));
    for (int64_t c = 0; c < p.cpg; ++c) {
      const float* x = p.x + i * m + c * p.hw;
      float* dx = p.grad_in + i * m + c * p.hw;
      const float g = p.gamma[c0 + c];
      const int64_t js = channel.start, ks = channel.count;
      VecF last = splat(0);
      if (channel.has_last)
        last = input_grad(x + js, dx + js, ks, mean, rstd, g, mean_gd, mean_gd_xhat);
      for (int64_t j = 0; j < channel.full_end; j += kLanes)
        store(dx + j, input_grad(x + j, dx + j, kLanes, mean, rstd, g, mean_gd, mean_gd_xhat),
              kLanes);
      if (channel.has_last) store(dx + js, last, ks);
    }
  }
}

using RangeFn = void (*)(const Problem&, int64_t, int64_t);

void forward_baseline(const Problem& p, int64_t b, int64_t e) { forward_range(p, b, e); }
void backward_baseline(const Problem& p, int64_t b, int64_t e) { backward_range(p, b, e); }
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) void forward_avx2(const Problem& p, int64_t b, int64_t e) {
  forward_range(p, b, e);
}
__attribute__((target("avx2,fma"))) void backward_avx2(const Problem& p, int64_t b, int64_t e) {
  backward_range(p, b, e);
}
__attribute__((target("avx512f"))) void forward_avx512(const Problem& p, int64_t b, int64_t e) {
  forward_range(p, b, e);
}
__attribute__((target("avx512f"))) void backward_avx512(const Problem& p, int64_t b, int64_t e) {
  backward_range(p, b, e);
}
#endif

struct Kernels {
  RangeFn forward, backward;
};

const Kernels& kernels() {
  static const Kernels k = [] {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) return Kernels{forward_avx512, backward_avx512};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return Kernels{forward_avx2, backward_avx2};
#endif
    return Kernels{forward_baseline, backward_baseline};
  }();
  return k;
}

void run(RangeFn fn, const Problem& p, int64_t items) {
  // About 16k values per task: small groups are batched, large ones go one per task.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.cpg * p.hw));
  at::parallel_for(0, items, grain, [&](int64_t b, int64_t e) { fn(p, b, e); });
}

Problem make_problem(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                     const torch::Tensor& bias, double eps) {
  const int64_t c = x.size(1);
  TORCH_CHECK(groups > 0 && c % groups == 0, "group_norm_silu: expected channels divisible by ",
              groups, " groups, found ", c, " channels");
  TORCH_CHECK(weight.numel() == c && bias.numel() == c, "group_norm_silu: expected weight and bias of ",
              c, " values, found ", weight.numel(), " and ", bias.numel());
  Problem p;
  p.x = x.data_ptr<float>();
  p.gamma = weight.data_ptr<float>();
  p.beta = bias.data_ptr<float>();
  p.groups = groups;
  p.cpg = c / groups;
  p.hw = x.numel() / (x.size(0) * c);
  p.eps = static_cast<float>(eps);
  return p;
}

/// out = silu(group_norm(x)); mean and rstd ([N, groups]) are filled when given.
torch::Tensor fused_forward(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                            const torch::Tensor& bias, double eps, torch::Tensor* mean,
                            torch::Tensor* rstd) {
  Problem p = make_problem(x, groups, weight, bias, eps);
  torch::Tensor out = torch::empty_like(x, torch::MemoryFormat::Contiguous);
  p.out = out.data_ptr<float>();
  if (mean != nullptr) {
    *mean = torch::empty({x.size(0), groups}, x.options());
    *rstd = torch::empty({x.size(0), groups}, x.options());
    p.mean = mean->data_ptr<float>();
    p.rstd = rstd->data_ptr<float>();
  }
  run(kernels().forward, p, x.size(0) * groups);
  return out;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class GroupNormSiLUFunction : public torch::autograd::Function<GroupNormSiLUFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& weight_in, const torch::Tensor& bias_in,
                               int64_t groups, double eps) {
    const torch::Tensor x = x_in.contiguous(), weight = weight_in.contiguous(),
                        bias = bias_in.contiguous();
    torch::Tensor mean, rstd;
    torch::Tensor out = fused_forward(x, groups, weight, bias, eps, &mean, &rstd);
    ctx->save_for_backward({x, weight, bias, mean, rstd});
    ctx->saved_data["groups"] = groups;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "group_norm_silu: double backward (create_graph) is not supported");
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &bias = saved[2];
    const torch::Tensor gy = grad_outputs[0];
    if (!gy.defined()) return {torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    const torch::Tensor grad_out = gy.to(torch::kFloat).contiguous();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    Problem p = make_problem(x, groups, weight, bias, 0.0);
    const int64_t n = x.size(0), c = x.size(1);
    torch::Tensor dx = torch::empty_like(x);
    torch::Tensor sums = torch::empty({2, n * c}, x.options().dtype(torch::kDouble));
    p.mean = saved[3].data_ptr<float>();
    p.rstd = saved[4].data_ptr<float>();
    p.grad_out = grad_out.data_ptr<float>();
    p.grad_in = dx.data_ptr<float>();
    p.sum_dy = sums.data_ptr<double>();
    p.sum_dy_xhat = p.sum_dy + n * c;
    run(kernels().backward, p, n * groups);
    // ∂L/∂γ_c = Σ_n Σ d x̂ and ∂L/∂β_c = Σ_n Σ d, summed serially in a fixed order.
    torch::Tensor dweight = torch::empty({c}, x.options()), dbias = torch::empty({c}, x.options());
    float* dw = dweight.data_ptr<float>();
    float* db = dbias.data_ptr<float>();
    for (int64_t ch = 0; ch < c; ++ch) {
      double sw = 0, sb = 0;
      for (int64_t s = 0; s < n; ++s) {
        sw += p.sum_dy_xhat[s * c + ch];
        sb += p.sum_dy[s * c + ch];
      }
      dw[ch] = static_cast<float>(sw);
      db[ch] = static_cast<float>(sb);
    }
    return {dx, dweight.view(weight.sizes()), dbias.view(bias.sizes()), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

bool group_norm_silu_is_fused(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias) {
  auto cpu_float = [](const torch::Tensor& t) {
    return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat &&
           t.layout() == torch::kStrided;
  };
  return cpu_float(x) && cpu_float(weight) && cpu_float(bias) && x.dim() >= 2 && x.numel() > 0;
}

torch::Tensor group_norm_silu(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                              const torch::Tensor& bias, double eps) {
  if (!group_norm_silu_is_fused(x, weight, bias))
    return torch::silu(torch::group_norm(x, groups, weight, bias, eps));
  const bool needs_grad = torch::GradMode::is_enabled() &&
                          (x.requires_grad() || weight.requires_grad() || bias.requires_grad());
  if (needs_grad) return GroupNormSiLUFunction::apply(x, weight, bias, groups, eps);
  return fused_forward(x.contiguous(), groups, weight.contiguous(), bias.contiguous(), eps,
                       nullptr, nullptr);
}

}  // namespace diffmem::model::detail
