#pragma once
// CPU selection for knn: one pass over each GEMM block that adds ‖b‖², compares against the
// query's current k-th best and touches a per-query heap only for the few values that beat it;
// then a direct re-measure of the k survivors. Internal to the search layer.
#include <cstdint>
#include <vector>

#include "knn_simd.h"

namespace diffmem::search::detail {

/// The running k best candidates of `rows` queries, a max-heap per query.
class FusedTopk {
 public:
  FusedTopk(int64_t rows, int64_t k);

  /// ip: [rows, cols] row-major with leading dimension ld, the block's q·b; base_norms: the
  /// block's cols squared norms; first_index: base row of column 0. Blocks must arrive in
  /// increasing first_index order (ties then resolve to the smaller index without comparing).
  void fold(const float* ip, int64_t cols, int64_t ld, const float* base_norms,
            int64_t first_index);

  /// fold() for rows [row_begin, row_end) only, on the calling thread; ip points at row_begin.
  void fold_rows(int64_t row_begin, int64_t row_end, const float* ip, int64_t cols, int64_t ld,
                 const float* base_norms, int64_t first_index);

  /// Writes each query's candidates sorted by (value, index): values [rows,k], indices [rows,k];
  /// slots never filled (NaN queries) get +inf and -1.
  void finish(float* values, int64_t* indices) const;

  /// Re-measures every kept candidate from the vectors (queries: [rows,d], base: [N,d], both
  /// row-major) and writes squared distances sorted by (distance, index) with their indices.
  void finish_exact(const float* queries, const float* base, int64_t d, float* sqdist,
                    int64_t* indices) const;

  int64_t bytes() const { return static_cast<int64_t>(heap_.size() * sizeof(Candidate)); }

 private:
  int64_t rows_;
  int64_t k_;
  std::vector<Candidate> heap_;  // rows × k
  std::vector<int64_t> count_;   // filled slots per query
};

}  // namespace diffmem::search::detail
