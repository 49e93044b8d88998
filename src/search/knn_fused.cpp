#include "knn_fused.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>

namespace diffmem::search::detail {
namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();

void prefetch_row(const float* p, int64_t d) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t off = 0; off < d * static_cast<int64_t>(sizeof(float)); off += 64) {
    __builtin_prefetch(c + off, 0, 3);
  }
}
}  // namespace

FusedTopk::FusedTopk(int64_t rows, int64_t k)
    : rows_(rows), k_(k), heap_(static_cast<size_t>(rows * k)), count_(rows, 0) {}

void FusedTopk::fold_rows(int64_t row_begin, int64_t row_end, const float* ip, int64_t cols,
                          int64_t ld, const float* base_norms, int64_t first_index) {
  const ScanFn scan = kernels().scan;
  for (int64_t r = row_begin; r < row_end; ++r) {
    Candidate* heap = heap_.data() + r * k_;
    RowHeap h{heap, count_[r], k_, count_[r] < k_ ? kInf : heap[0].value};
    scan(ip + (r - row_begin) * ld, base_norms, cols, first_index, h);
    count_[r] = h.count;
  }
}

void FusedTopk::fold(const float* ip, int64_t cols, int64_t ld, const float* base_norms,
                     int64_t first_index) {
  // Rows are independent; the grain keeps each task well above the scheduling cost.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1));
  at::parallel_for(0, rows_, grain, [&](int64_t begin, int64_t end) {
    fold_rows(begin, end, ip + begin * ld, cols, ld, base_norms, first_index);
  });
}

void FusedTopk::finish(float* values, int64_t* indices) const {
  std::vector<Candidate> row;
  for (int64_t r = 0; r < rows_; ++r) {
    const Candidate* heap = heap_.data() + r * k_;
    row.assign(heap, heap + count_[r]);
    std::sort(row.begin(), row.end(), candidate_less);
    for (int64_t j = 0; j < k_; ++j) {
      const bool filled = j < static_cast<int64_t>(row.size());
      values[r * k_ + j] = filled ? row[j].value : kInf;
      indices[r * k_ + j] = filled ? row[j].index : -1;
    }
  }
}

void FusedTopk::finish_exact(const float* queries, const float* base, int64_t d, float* sqdist,
                             int64_t* indices) const {
  const SqdistFn measure = kernels().sqdist;
  at::parallel_for(0, rows_, 16, [&](int64_t begin, int64_t end) {
    std::vector<Candidate> row;
    for (int64_t r = begin; r < end; ++r) {
      const Candidate* heap = heap_.data() + r * k_;
      row.assign(heap, heap + count_[r]);
      for (size_t i = 0; i < row.size(); ++i) {
        // Base rows are scattered: fetch the next one while this one is measured.
        if (i + 1 < row.size()) prefetch_row(base + row[i + 1].index * d, d);
        row[i].value = measure(queries + r * d, base + row[i].index * d, d);
      }
      std::sort(row.begin(), row.end(), candidate_less);
      for (int64_t j = 0; j < k_; ++j) {
        const bool filled = j < static_cast<int64_t>(row.size());
        sqdist[r * k_ + j] = filled ? row[j].value : kInf;
        indices[r * k_ + j] = filled ? row[j].index : -1;
      }
    }
  });
}

}  // namespace diffmem::search::detail
