#pragma once
// Exact k-nearest-neighbour search under normalized ℓ2 (sqrt(mean((q-b)^2))), CPU or CUDA.
//
// Distances come from blocked GEMMs (‖b‖² − 2 q·b per query block × base block) whose results are
// folded into a running top-k per query and then dropped, so memory stays bounded by
// query_block × base_block floats however many queries and base rows there are. The k survivors
// are then re-measured directly (‖q−b‖ without the expansion) so that the cancellation of the
// GEMM form never reaches the reported distances; ties are ordered by base index.
//
// uint8 images on the CPU (KnnArithmetic::kAuto) take exact integer GEMMs instead (knn_int.h,
// int_gram.h): the base is packed once here, distances are exact integers until the final
// normalization, and ties are true ties, ordered by base index. On a GPU with LibTorch ≥ 2.2 they
// take int8 tensor cores the same way (knn_int_device.h, int_gram_device.h).
//
// Threads (CPU): with more than one torch thread and an OpenBLAS underneath, each torch thread
// runs single-threaded GEMMs on its own query rows, so OpenBLAS is held to one thread for the
// duration of a search (restored after). With one torch thread the BLAS threads the GEMM itself.
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "diffmem/search/search_options.h"

namespace diffmem::search {
namespace detail {
class IntKnnBase;
class DeviceIntKnn;
}

struct KnnResult {
  torch::Tensor indices;    ///< [Q,k] i64: base rows, nearest first; -1 where a query has no
                            ///< finite distance (NaN in the query)
  torch::Tensor distances;  ///< [Q,k] f32: normalized ℓ2, sqrt(‖q−b‖² / D); +inf with index -1
  /// [Q,k] i64: ‖q−b‖² of the uint8 values (0..255), exact, where the search computed it so (uint8
  /// queries on an integer index); undefined on the float path.
  torch::Tensor squared;
  int64_t query_block = 0;  ///< block sizes actually used
  int64_t base_block = 0;
  /// Largest temporary buffer the search allocates at once (bytes), by construction: the
  /// query_block × base_block slab unless k × D or the per-query heaps exceed it. The memory
  /// test checks it against what the allocator actually sees.
  int64_t peak_temp_bytes = 0;
};

struct BlockSizes {
  int64_t query_block = 0;
  int64_t base_block = 0;
};

/// Defaults measured in bench/knn_bench.cpp (see BENCHMARKS.md), clamped to the problem size.
BlockSizes default_block_sizes(const torch::Device& device, int64_t n_queries, int64_t n_base);

/// A base set held for repeated searches: rows stored as contiguous f32 on its device with their
/// squared norms precomputed. Queries arrive in batches of any size (e.g. one .npy shard at a time)
/// and are processed query_block rows at a time, so a stream of shards needs memory for the base,
/// one shard and one block only.
class KnnIndex {
 public:
  /// base: [N,D] f32 in any layout, or u8 ([N,H,W,C] u8 is flattened; scaled by 1/255, as
  /// to_unit_rows), on CPU or CUDA.
  explicit KnnIndex(const torch::Tensor& base, KnnOptions options = {});
  ~KnnIndex();

  /// queries: [Q,D] f32 or u8 ([Q,H,W,C] u8 is flattened), any device (moved block by block).
  /// Result tensors live on the base's device. On an integer index, u8 queries are exact; f32
  /// queries run on a float copy of the base made for that call.
  KnnResult search(const torch::Tensor& queries) const;

  int64_t size() const { return base_.size(0); }
  int64_t dim() const { return base_.size(1); }
  torch::Device device() const { return base_.device(); }
  const KnnOptions& options() const { return options_; }
  /// Whether uint8 queries take the exact integer path.
  bool integer() const;
  /// "integer (oneDNN … kernel)", "integer (torch::_int_mm …)", "integer (float64 GEMM …)" or
  /// "float32".
  std::string arithmetic() const;
  /// Base rows [start, start+length) as stored: [n,D] u8 on an integer index, f32 otherwise (as
  /// queries, they take the same path as the base).
  torch::Tensor rows(int64_t start, int64_t length) const;
  /// Base rows by index (indices: [n] i64, -1 read as row 0) as [n,D] f32 in [0,1].
  torch::Tensor unit_rows(const torch::Tensor& indices) const;

 private:
  KnnOptions options_;
  torch::Tensor base_;        // [N,D] f32 contiguous, or u8 contiguous on an integer index
  torch::Tensor base_norms_;  // [N] f32, ‖b‖² (float index)
  std::shared_ptr<const detail::IntKnnBase> int_base_;        // uint8 on the CPU, oneDNN
  std::shared_ptr<const detail::DeviceIntKnn> device_int_;    // uint8 through LibTorch (GPU)
};

/// One-shot search: KnnIndex(base, options).search(queries).
KnnResult knn(const torch::Tensor& queries, const torch::Tensor& base,
              const KnnOptions& options = {});

}  // namespace diffmem::search
