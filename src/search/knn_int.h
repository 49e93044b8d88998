#pragma once
// The exact k-NN of uint8 rows on integer GEMMs (search layer internal; KnnIndex uses it).
//
// The base is packed once, in blocks of base rows, as b − 128 (search/int_gram.h). A query block's
// products q·(b − 128) come out of one int32 GEMM per base block and are folded at once into a
// per-query heap by v = ‖b‖² − 2 q·(b − 128), which orders the base as ‖q − b‖² does (the two differ
// by ‖q‖² − 256 Σq, fixed per query). The k survivors' squared distances are then
// ‖q‖² − 256 Σq + v: exact integers, so nothing is re-measured and ties are true ties, resolved
// to the smaller base index.
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "diffmem/search/int_gram.h"

namespace diffmem::search::detail {

/// Longest row whose fold value fits int32: |‖b‖² − 2 q·(b−128)| ≤ (65,025 + 65,280)·D < 2^31.
constexpr int64_t kIntKnnMaxDim = 16480;

class IntKnnBase {
 public:
  /// rows: [N,D] u8, contiguous, on the CPU; copied into the packed blocks (the caller need not
  /// keep it).
  IntKnnBase(const torch::Tensor& rows, int64_t base_block);

  int64_t size() const { return size_; }
  int64_t dim() const { return dim_; }
  int64_t base_block() const { return base_block_; }

  struct Output {
    int64_t peak_temp_bytes = 0;
  };
  /// queries: [Q,D] u8 contiguous CPU. Writes indices [Q,k] i64 (nearest first, ties by index),
  /// distances [Q,k] f32 (normalized ℓ2, sqrt(‖q−b‖² / (D·255²)), rounded once from the exact value)
  /// and squared [Q,k] i64 (‖q−b‖² itself).
  Output search(const torch::Tensor& queries, int64_t k, int64_t query_block,
                torch::Tensor& indices, torch::Tensor& distances, torch::Tensor& squared) const;

 private:
  int64_t size_ = 0;
  int64_t dim_ = 0;
  int64_t base_block_ = 0;
  std::vector<PackedU8Rows> blocks_;
  std::vector<int32_t> norms_;  // ‖b‖² per base row
};

}  // namespace diffmem::search::detail
