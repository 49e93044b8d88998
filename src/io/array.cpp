#include "diffmem/io/array.h"

#include "diffmem/core/error.h"
#include "io_util.h"

namespace diffmem::io {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::kU8:
    case DType::kI8:
    case DType::kBool:
      return 1;
    case DType::kI16:
    case DType::kF16:
    case DType::kBF16:
      return 2;
    case DType::kI32:
    case DType::kF32:
      return 4;
    case DType::kI64:
    case DType::kF64:
      return 8;
  }
  fail("dtype_size", "a known DType", std::to_string(static_cast<int>(d)));
}

std::string dtype_name(DType d) {
  switch (d) {
    case DType::kU8: return "U8";
    case DType::kI8: return "I8";
    case DType::kI16: return "I16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF32: return "F32";
    case DType::kF64: return "F64";
    case DType::kBool: return "BOOL";
  }
  fail("dtype_name", "a known DType", std::to_string(static_cast<int>(d)));
}

std::optional<DType> dtype_from_name(const std::string& name) {
  for (DType d : {DType::kU8, DType::kI8, DType::kI16, DType::kI32, DType::kI64, DType::kF16,
                  DType::kBF16, DType::kF32, DType::kF64, DType::kBool}) {
    if (dtype_name(d) == name) return d;
  }
  return std::nullopt;
}

int64_t HostArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

HostArray HostArray::zeros(DType dtype, std::vector<int64_t> shape) {
  HostArray a;
  a.dtype = dtype;
  a.shape = std::move(shape);
  a.bytes.assign(detail::checked_nbytes(a.shape, dtype_size(dtype), "HostArray::zeros"), 0);
  return a;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

}  // namespace diffmem::io
