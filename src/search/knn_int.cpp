#include "knn_int.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "diffmem/core/error.h"
#include "knn_simd.h"

namespace diffmem::search::detail {
namespace {
constexpr const char* kKnnIntWhere = "search::knn (integer)";
using Cand = CandidateOf<int32_t>;
}  // namespace

IntKnnBase::IntKnnBase(const torch::Tensor& rows, int64_t base_block)
    : size_(rows.size(0)), dim_(rows.size(1)), base_block_(std::max<int64_t>(1, base_block)) {
  check(rows.scalar_type() == torch::kByte && rows.is_cpu() && rows.is_contiguous(), kKnnIntWhere,
        "a contiguous uint8 CPU base", c10::toString(rows.scalar_type()));
  check(dim_ <= kIntKnnMaxDim, kKnnIntWhere, "rows of at most " + std::to_string(kIntKnnMaxDim) + " values",
        std::to_string(dim_));
  base_block_ = std::min(base_block_, size_);
  const uint8_t* p = rows.data_ptr<uint8_t>();
  norms_.resize(static_cast<size_t>(size_));
  at::parallel_for(0, size_, 256, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) norms_[size_t(i)] = static_cast<int32_t>(row_sums(p + i * dim_, dim_).squares);
  });
  for (int64_t b0 = 0; b0 < size_; b0 += base_block_) {
    const int64_t cols = std::min(base_block_, size_ - b0);
    blocks_.emplace_back(p + b0 * dim_, cols, dim_, dim_);
  }
}

IntKnnBase::Output IntKnnBase::search(const torch::Tensor& queries, int64_t k, int64_t query_block,
                                      torch::Tensor& indices, torch::Tensor& distances,
                                      torch::Tensor& squared) const {
  check(queries.scalar_type() == torch::kByte && queries.is_cpu() && queries.is_contiguous() &&
            queries.dim() == 2 && queries.size(1) == dim_,
        kKnnIntWhere, "contiguous uint8 CPU queries [Q," + std::to_string(dim_) + "]",
        c10::str(queries.sizes()) + " " + c10::toString(queries.scalar_type()));
  check(k >= 1 && k <= size_, kKnnIntWhere, "1 <= k <= " + std::to_string(size_), std::to_string(k));
  const int64_t n_queries = queries.size(0);
  const int64_t d = dim_;
  indices = torch::empty({n_queries, k}, torch::kLong);
  distances = torch::empty({n_queries, k}, torch::kFloat);
  squared = torch::empty({n_queries, k}, torch::kLong);
  Output out;
  if (n_queries == 0) return out;
  query_block = std::max<int64_t>(1, std::min(query_block, n_queries));
  const ScanI32Fn scan = kernels().scan_i32;
  const uint8_t* qp = queries.data_ptr<uint8_t>();
  int64_t* ip_out = indices.data_ptr<int64_t>();
  float* dp_out = distances.data_ptr<float>();
  int64_t* sp_out = squared.data_ptr<int64_t>();
  std::vector<int32_t> buffer(static_cast<size_t>(query_block * base_block_));
  std::vector<Cand> heap(static_cast<size_t>(query_block * k));
  std::vector<int64_t> count(static_cast<size_t>(query_block));
  out.peak_temp_bytes = static_cast<int64_t>(buffer.size() * sizeof(int32_t) + heap.size() * sizeof(Cand));
  const double scale = 1.0 / (static_cast<double>(d) * 255.0 * 255.0);

  // Rows of one query block, split over the threads: each multiplies its own rows by every base
  // block (oneDNN runs single-threaded inside the parallel region) and folds them from its cache.
  const auto fold_rows = [&](const uint8_t* q, int64_t r0, int64_t r1) {
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const int64_t b0 = static_cast<int64_t>(b) * base_block_;
      const int64_t cols = blocks_[b].rows();
      int32_t* ip = buffer.data() + r0 * base_block_;
      blocks_[b].gram_shifted(q + r0 * d, r1 - r0, d, ip, cols);
      for (int64_t r = r0; r < r1; ++r) {
        RowHeapOf<int32_t> h{heap.data() + r * k, count[size_t(r)], k,
                             count[size_t(r)] < k ? std::numeric_limits<int32_t>::max()
                                                  : heap[size_t(r * k)].value};
        scan(ip + (r - r0) * cols, norms_.data() + b0, cols, b0, h);
        count[size_t(r)] = h.count;
      }
    }
  };

  for (int64_t q0 = 0; q0 < n_queries; q0 += query_block) {
    const int64_t rows = std::min(query_block, n_queries - q0);
    const uint8_t* q = qp + q0 * d;
    std::fill(count.begin(), count.end(), 0);
    if (at::get_num_threads() > 1) {
      at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) { fold_rows(q, r0, r1); });
    } else {
      fold_rows(q, 0, rows);
    }
    at::parallel_for(0, rows, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        Cand* h = heap.data() + r * k;
        std::sort(h, h + count[size_t(r)], candidate_less);
        const RowSums s = row_sums(q + r * d, d);
        const int64_t offset = s.squares - 256 * s.sum;
        for (int64_t j = 0; j < k; ++j) {
          const int64_t sqd = offset + h[j].value;
          ip_out[(q0 + r) * k + j] = h[j].index;
          sp_out[(q0 + r) * k + j] = sqd;
          dp_out[(q0 + r) * k + j] = static_cast<float>(std::sqrt(static_cast<double>(sqd) * scale));
        }
      }
    });
  }
  return out;
}

}  // namespace diffmem::search::detail
