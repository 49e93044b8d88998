#pragma once
// The pixel schedulers' float coefficients as tensors.
#include <torch/torch.h>

namespace diffmem::diffusion::detail {

/// diffusers holds these coefficients as 0-d float32 tensors; float arithmetic here rounds the same
/// way, and 0-d CPU tensors make the tensor ops run the very kernels diffusers runs.
inline torch::Tensor coefficient(float v) { return torch::scalar_tensor(v, torch::kFloat32); }

}  // namespace diffmem::diffusion::detail
