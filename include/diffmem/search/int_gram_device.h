#pragma once
// Exact integer Gram products of uint8 rows as tensors, on any device (the GPU's counterpart of
// int_gram.h, which packs bytes for oneDNN on the CPU).
//
// Rows are shifted to b − 128 (int8) and zero-padded to a multiple of 8 columns. Distances are
// invariant under the shift, ‖a − b‖² = ‖a'‖² + ‖b'‖² − 2 a'·b', so the shifted Gram matrix is all
// a distance needs, and the padding adds nothing to it. The products run
//   - on LibTorch ≥ 2.2 with CUDA: torch::_int_mm (cuBLASLt, int8 tensor cores, int32 sums) in
//     column chunks of at most 65,536 values, so no int32 sum can overflow (|a'·b'| ≤ 2^14 K);
//   - elsewhere: float64 GEMMs, exact for these values (every partial sum is an integer below
//     2^14 K ≪ 2^53).
// Both give the same int64 matrix; which one runs is reported by device_int_gram_name().
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace diffmem::search {

/// Whether torch::_int_mm serves tensors on `device` in this build (LibTorch ≥ 2.2, CUDA).
bool device_int_mm_available(const torch::Device& device);

/// "torch::_int_mm (int8 tensor cores)" or "float64 GEMM (exact)" for `device`.
std::string device_int_gram_name(const torch::Device& device);

/// rows [N,D] u8 (any device) -> [N, D rounded up to a multiple of 8] int8 on the same device:
/// each value minus 128, padding columns 0.
torch::Tensor shift_u8_rows(const torch::Tensor& rows);

/// ‖a'‖² per row of shifted rows [N,K8] int8 -> [N] int64.
torch::Tensor shifted_norms(const torch::Tensor& shifted);

/// a [M,K8], b [N,K8] int8 shifted rows on one device -> [M,N] int64, a'·b' exactly.
torch::Tensor shifted_gram(const torch::Tensor& a, const torch::Tensor& b);

/// The same product on the float64 path whatever the device (the reference the tests compare
/// the int8 path with, and the path where _int_mm is not available).
torch::Tensor shifted_gram_f64(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace diffmem::search
