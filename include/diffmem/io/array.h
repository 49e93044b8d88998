#pragma once
// A host-side n-d array in raw bytes: what the file formats (npy, safetensors, IDX, CIFAR, images)
// read and write. Torch-free on purpose; io/tensor_bridge.h converts to and from torch::Tensor.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace diffmem::io {

enum class DType { kU8, kI8, kI16, kI32, kI64, kF16, kBF16, kF32, kF64, kBool };

/// Bytes per element.
size_t dtype_size(DType d);
/// safetensors spelling: "U8", "I64", "F32", "BF16", "BOOL", ...
std::string dtype_name(DType d);
/// Inverse of dtype_name; nullopt for a name diffmem does not support (e.g. "U16", "F8_E4M3").
std::optional<DType> dtype_from_name(const std::string& name);

struct HostArray {
  DType dtype = DType::kU8;
  std::vector<int64_t> shape;  // C order
  std::vector<uint8_t> bytes;  // little-endian, numel * dtype_size bytes

  int64_t numel() const;
  size_t nbytes() const { return bytes.size(); }
  template <typename T>
  T* data() { return reinterpret_cast<T*>(bytes.data()); }
  template <typename T>
  const T* data() const { return reinterpret_cast<const T*>(bytes.data()); }

  /// An array of the given dtype and shape, zero-filled.
  static HostArray zeros(DType dtype, std::vector<int64_t> shape);
};

/// "(2, 3, 4)" for messages.
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace diffmem::io
