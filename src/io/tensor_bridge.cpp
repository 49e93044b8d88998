#include "diffmem/io/tensor_bridge.h"

#include <torch/torch.h>

#include <cstring>

#include "diffmem/core/error.h"

namespace diffmem::io {

torch::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::kU8: return torch::kUInt8;
    case DType::kI8: return torch::kInt8;
    case DType::kI16: return torch::kInt16;
    case DType::kI32: return torch::kInt32;
    case DType::kI64: return torch::kInt64;
    case DType::kF16: return torch::kFloat16;
    case DType::kBF16: return torch::kBFloat16;
    case DType::kF32: return torch::kFloat32;
    case DType::kF64: return torch::kFloat64;
    case DType::kBool: return torch::kBool;
  }
  fail("to_scalar_type", "a known DType", std::to_string(static_cast<int>(d)));
}

DType from_scalar_type(torch::ScalarType t) {
  switch (t) {
    case torch::kUInt8: return DType::kU8;
    case torch::kInt8: return DType::kI8;
    case torch::kInt16: return DType::kI16;
    case torch::kInt32: return DType::kI32;
    case torch::kInt64: return DType::kI64;
    case torch::kFloat16: return DType::kF16;
    case torch::kBFloat16: return DType::kBF16;
    case torch::kFloat32: return DType::kF32;
    case torch::kFloat64: return DType::kF64;
    case torch::kBool: return DType::kBool;
    default: break;
  }
  fail("from_scalar_type", "a tensor dtype among u8 i8 i16 i32 i64 f16 bf16 f32 f64 bool",
       std::string(c10::toString(t)));
}

torch::Tensor to_tensor(const HostArray& array) {
  torch::Tensor t = torch::empty(array.shape, torch::TensorOptions().dtype(to_scalar_type(array.dtype)));
  const size_t nbytes = static_cast<size_t>(t.numel()) * dtype_size(array.dtype);
  if (nbytes != array.bytes.size())
    fail("to_tensor", std::to_string(nbytes) + " bytes for " + dtype_name(array.dtype) + " " +
                          shape_str(array.shape),
         std::to_string(array.bytes.size()) + " bytes");
  if (nbytes == 0) return t;
  if (array.dtype == DType::kBool) {
    // A file may hold any byte in a bool array; torch assumes 0 or 1.
    auto* dst = static_cast<uint8_t*>(t.data_ptr());
    for (size_t i = 0; i < nbytes; ++i) dst[i] = array.bytes[i] != 0;
  } else {
    std::memcpy(t.data_ptr(), array.bytes.data(), nbytes);
  }
  return t;
}

HostArray from_tensor(const torch::Tensor& tensor) {
  torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  HostArray a;
  a.dtype = from_scalar_type(t.scalar_type());
  a.shape.assign(t.sizes().begin(), t.sizes().end());
  a.bytes.resize(static_cast<size_t>(t.numel()) * t.element_size());
  if (!a.bytes.empty()) std::memcpy(a.bytes.data(), t.data_ptr(), a.bytes.size());
  return a;
}

std::string shape_str(const torch::Tensor& t) {
  return t.defined() ? shape_str(t.sizes().vec()) : std::string("undefined");
}

}  // namespace diffmem::io
