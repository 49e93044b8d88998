#pragma once
// The exact k-NN of uint8 rows through LibTorch's integer products (search/int_gram_device.h):
// the GPU's counterpart of knn_int.h (search layer internal; KnnIndex uses it).
//
// The base is shifted once (b − 128 as int8, with its int64 squared norms). Per query block and
// base block the exact squared distances ‖q' − b'‖² = ‖q'‖² + ‖b'‖² − 2 q'·b' are folded into one
// int64 key, sqd · N + index, so that a plain top-k of the keys returns the k nearest with ties
// ordered by base index, whatever order the device's top-k keeps among equal values.
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace diffmem::search::detail {

class DeviceIntKnn {
 public:
  /// Why a base of n rows of d values cannot take this path (its keys would overflow int64), or
  /// empty when it can.
  static std::string unsupported(int64_t n, int64_t d);

  /// rows: [N,D] u8 on the device the search runs on.
  DeviceIntKnn(const torch::Tensor& rows, int64_t base_block);

  int64_t size() const { return size_; }
  int64_t dim() const { return dim_; }
  int64_t base_block() const { return base_block_; }
  torch::Device device() const { return shifted_.device(); }
  /// The product the search runs on, as device_int_gram_name().
  std::string kernel() const;

  /// queries: [Q,D] u8, any device. Writes indices [Q,k] i64, distances [Q,k] f32
  /// (sqrt(‖q−b‖² / (D·255²)) rounded once from the exact value) and squared [Q,k] i64 (‖q−b‖²)
  /// on the base's device; returns the largest temporary it allocated (bytes).
  int64_t search(const torch::Tensor& queries, int64_t k, int64_t query_block,
                 torch::Tensor& indices, torch::Tensor& distances, torch::Tensor& squared) const;

 private:
  int64_t size_ = 0;
  int64_t dim_ = 0;
  int64_t base_block_ = 0;
  torch::Tensor shifted_;  // [N, D rounded up to 8] int8
  torch::Tensor norms_;    // [N] int64, ‖b'‖²
};

}  // namespace diffmem::search::detail
