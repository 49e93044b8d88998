#pragma once
// silu(group_norm(x)) as one operation: the pair every ResnetBlock2D runs twice and the U-Net's
// output head once. Private to src/model.
#include <torch/torch.h>

namespace diffmem::model::detail {

/// silu(group_norm(x, groups, weight, bias, eps)) for x of shape [N, C, *] with C divisible by
/// groups. On CPU float32 with affine weights it is one fused kernel, forward and backward (two
/// passes over x instead of ATen's four, and one saved activation instead of two); the result
/// matches the two ATen operations to float rounding and does not depend on the thread count.
/// Anything else (CUDA, other dtypes, no weights) runs the two ATen operations. Double backward
/// is not supported by the fused path.
torch::Tensor group_norm_silu(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                              const torch::Tensor& bias, double eps);

/// True when group_norm_silu takes its fused path for these arguments.
bool group_norm_silu_is_fused(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias);

}  // namespace diffmem::model::detail
