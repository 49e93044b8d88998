#pragma once
// HostArray <-> torch::Tensor (copies; CPU tensors, contiguous).
#include <torch/types.h>

#include "diffmem/io/array.h"

namespace diffmem::io {

torch::Tensor to_tensor(const HostArray& array);
/// Any tensor (moved to CPU, made contiguous) to a HostArray of the same dtype and shape.
HostArray from_tensor(const torch::Tensor& tensor);
torch::ScalarType to_scalar_type(DType d);
DType from_scalar_type(torch::ScalarType t);
/// A tensor's shape for messages, "(2, 3)" as shape_str of its sizes; "undefined" for none.
std::string shape_str(const torch::Tensor& t);

}  // namespace diffmem::io
