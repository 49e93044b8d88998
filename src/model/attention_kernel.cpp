#include "attention_kernel.h"

#include "batched_matmul.h"
#include "softmax_kernels.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace diffmem::model::detail {
namespace {

[[maybe_unused]] torch::Tensor plain(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const torch::Tensor w =
      torch::softmax(torch::matmul(q.to(torch::kFloat32), k.to(torch::kFloat32).transpose(-1, -2)) * scale, -1);
  return torch::matmul(w.to(v.scalar_type()), v);
}

// Query blocks of ~512K scores over all batch-heads at once (2 MiB: cache-resident), each one
// batched GEMM (oneDNN where built with it; see batched_matmul.h), a softmax, one batched GEMM.
[[maybe_unused]] torch::Tensor blocked(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const int64_t B = q.size(0), h = q.size(1), N = q.size(2), d = q.size(3), M = k.size(2);
  const int64_t BH = B * h;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  // The scale folded into q (N·d products instead of N·M).
  const torch::Tensor qf = (q.to(torch::kFloat32) * scale).reshape({BH, N, d});
  const torch::Tensor kt = k.to(torch::kFloat32).reshape({BH, M, d}).transpose(1, 2);  // [BH,d,M] view
  const torch::Tensor vf = v.to(torch::kFloat32).reshape({BH, M, d});
  const int64_t rows =
      std::min<int64_t>(N, std::max<int64_t>(16, (int64_t{1} << 19) / std::max<int64_t>(BH * M, 1)));
  std::vector<torch::Tensor> parts;
  for (int64_t r0 = 0; r0 < N; r0 += rows) {
    torch::Tensor s = batched_matmul(qf.narrow(1, r0, std::min(rows, N - r0)), kt).contiguous();
    float* data = s.data_ptr<float>();
    at::parallel_for(0, s.numel() / M, 16, [&](int64_t b, int64_t e) { softmax_rows(data + b * M, e - b, M); });
    parts.push_back(batched_matmul(s, vf));
  }
  const torch::Tensor out = parts.size() == 1 ? parts[0] : torch::cat(parts, 1);
  return out.view({B, h, N, d}).to(q.scalar_type());
}

}  // namespace

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
  // f32 inputs on the CPU; on a GPU the fused kernels accumulate in f32 themselves.
  if (q.device().is_cpu() && q.scalar_type() != torch::kFloat32)
    return at::scaled_dot_product_attention(q.to(torch::kFloat32), k.to(torch::kFloat32), v.to(torch::kFloat32))
        .to(q.scalar_type());
  return at::scaled_dot_product_attention(q, k, v);
#else
  if (q.device().is_cpu() && !torch::GradMode::is_enabled()) return blocked(q, k, v);
  return plain(q, k, v);
#endif
}

}  // namespace diffmem::model::detail
