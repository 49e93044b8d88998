#include "batched_matmul.h"

#include <ATen/Context.h>

#include <string>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/io/array.h"

#ifdef DIFFMEM_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace diffmem::model::detail {
namespace {


void check_operands(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias) {
  check(a.dim() == 3 && b.dim() == 3, "batched_matmul", "two 3-d operands",
        io::shape_str(a) + " and " + io::shape_str(b));
  const int64_t ba = a.size(0), bb = b.size(0);
  check(a.size(2) == b.size(1) && (ba == bb || ba == 1 || bb == 1), "batched_matmul",
        "[B|1, M, K] and [B|1, K, N]", io::shape_str(a) + " and " + io::shape_str(b));
  if (bias.defined())
    check(bias.dim() == 1 && bias.size(0) == a.size(1), "batched_matmul bias",
          "shape (" + std::to_string(a.size(1)) + ")", io::shape_str(bias));
}

torch::Tensor aten_matmul(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias) {
  torch::Tensor c = torch::matmul(a, b);
  return bias.defined() ? c + bias.view({1, -1, 1}) : c;
}

#ifdef DIFFMEM_HAVE_ONEDNN
dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::memory::desc describe(const torch::Tensor& t) {
  const dnnl::memory::dims dims(t.sizes().begin(), t.sizes().end());
  const dnnl::memory::dims strides(t.strides().begin(), t.strides().end());
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

// The product without autograd. oneDNN's primitive cache makes the repeated construction cheap.
torch::Tensor onednn_matmul(torch::Tensor a, torch::Tensor b, const torch::Tensor& bias) {
  const int64_t batch = std::max(a.size(0), b.size(0));
  torch::Tensor c = torch::empty({batch, a.size(1), b.size(2)}, a.options());
  if (c.numel() == 0) return c;
  if (a.size(2) == 0) return bias.defined() ? c.copy_(bias.view({1, -1, 1}).expand_as(c)) : c.zero_();
  // A broadcast operand of batch 1 has an arbitrary batch stride; oneDNN wants a plain one.
  const auto fix_batch_stride = [](torch::Tensor& t) {
    if (t.size(0) == 1 && t.stride(0) != t.size(1) * t.size(2)) t = t.contiguous();
  };
  fix_batch_stride(a);
  fix_batch_stride(b);
  // The bias is added afterwards: oneDNN 2.6 has no optimized kernel for a bias along M (a
  // [1, M, 1] bias sends the product to its reference implementation: 8–9 s, under DNNL_VERBOSE,
  // for a ddpm-cifar10 q/k/v projection that its optimized kernel does in 4.3 ms).
  const auto run = [&](const torch::Tensor& x, const torch::Tensor& y) {
#if DNNL_VERSION_MAJOR >= 3  // 3.x dropped the operation descriptors
    const dnnl::matmul::primitive_desc pd(cpu_engine(), describe(x), describe(y), describe(c));
#else
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(describe(x), describe(y), describe(c)),
                                          cpu_engine());
#endif
    dnnl::stream stream(cpu_engine());
    dnnl::matmul(pd).execute(
        stream, {{DNNL_ARG_SRC, dnnl::memory(describe(x), cpu_engine(), x.data_ptr())},
                 {DNNL_ARG_WEIGHTS, dnnl::memory(describe(y), cpu_engine(), y.data_ptr())},
                 {DNNL_ARG_DST, dnnl::memory(describe(c), cpu_engine(), c.data_ptr())}});
    stream.wait();
  };
  try {
    run(a, b);
  } catch (const dnnl::error&) {
    // Layouts oneDNN has no kernel for (neither of the last two strides 1) go through a copy.
    run(a.contiguous(), b.contiguous());
  }
  return bias.defined() ? c.add_(bias.view({1, -1, 1})) : c;
}

class BatchedMatmul : public torch::autograd::Function<BatchedMatmul> {
 public:
  // LibTorch 1.13's Function::apply cannot take an undefined tensor, so "no bias" is has_bias false
  // with any placeholder tensor.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a,
                               const torch::Tensor& b, const torch::Tensor& bias, bool has_bias) {
    ctx->save_for_backward({a, b});
    ctx->saved_data["bias"] = has_bias;
    return onednn_matmul(a, b, has_bias ? bias.contiguous() : torch::Tensor());
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &a = saved[0], &b = saved[1], &g = grads[0];
    const bool has_bias = ctx->saved_data["bias"].toBool();
    const int64_t batch = g.size(0);
    torch::Tensor ga, gb, gbias;
    // A broadcast operand's gradient is the sum of its per-item gradients.
    if (ctx->needs_input_grad(0)) {
      ga = onednn_matmul(g, b.transpose(1, 2), {});
      if (a.size(0) == 1 && batch > 1) ga = ga.sum(0, /*keepdim=*/true);
    }
    if (ctx->needs_input_grad(1)) {
      gb = onednn_matmul(a.transpose(1, 2), g, {});
      if (b.size(0) == 1 && batch > 1) gb = gb.sum(0, /*keepdim=*/true);
    }
    if (has_bias && ctx->needs_input_grad(2)) gbias = g.sum(torch::IntArrayRef{0, 2});
    return {ga, gb, gbias, torch::Tensor()};
  }
};
#endif

}  // namespace

bool batched_matmul_uses_onednn(const torch::Tensor& a, const torch::Tensor& b) {
#ifdef DIFFMEM_HAVE_ONEDNN
  static const bool mkl = at::hasMKL();
  return !mkl && a.device().is_cpu() && b.device().is_cpu() && a.scalar_type() == torch::kFloat32 &&
         b.scalar_type() == torch::kFloat32;
#else
  (void)a;
  (void)b;
  return false;
#endif
}

torch::Tensor batched_matmul(const torch::Tensor& a, const torch::Tensor& b,
                             const torch::Tensor& bias) {
  check_operands(a, b, bias);
#ifdef DIFFMEM_HAVE_ONEDNN
  if (batched_matmul_uses_onednn(a, b) &&
      (!bias.defined() || (bias.device().is_cpu() && bias.scalar_type() == torch::kFloat32)))
    return BatchedMatmul::apply(a, b, bias.defined() ? bias : torch::empty({0}), bias.defined());
#endif
  return aten_matmul(a, b, bias);
}

}  // namespace diffmem::model::detail
