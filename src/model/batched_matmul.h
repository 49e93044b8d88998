#pragma once
// Batched matrix products for the attention blocks, run by oneDNN on LibTorch's OpenMP threads
// where that is available. Private to src/model.
//
// Why: Debian's LibTorch 1.13 sends bmm to OpenBLAS one batch item at a time, on OpenBLAS's own
// pthreads, between convolutions that run on the OpenMP threads; in a profiled ddpm-cifar10 step
// the attention GEMMs ran at under half the rate they reach alone, and its 1×1-convolution
// projections at half the rate of a GEMM. oneDNN's matmul takes the whole batch, strided
// (transposed) operands and a broadcast weight in one call, on the same threads as everything else.
#include <torch/torch.h>

namespace diffmem::model::detail {

/// a [Ba, M, K] times b [Bb, K, N] → [B, M, N], where Ba and Bb are each B or 1 (1 broadcasts over
/// the batch), plus bias [M] added to every column when bias is defined. Operands may be strided
/// views (transposes, narrows). Differentiable in a, b and bias. CPU float32 runs oneDNN when
/// batched_matmul_uses_onednn says so; anything else runs ATen's matmul.
torch::Tensor batched_matmul(const torch::Tensor& a, const torch::Tensor& b,
                             const torch::Tensor& bias = {});

/// True when batched_matmul runs oneDNN for these operands: diffmem was built with oneDNN, both
/// are CPU float32 and LibTorch has no MKL (whose batched GEMM is already fast).
bool batched_matmul_uses_onednn(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace diffmem::model::detail
