#include "knn_int_device.h"

#include <torch/torch.h>

#include <algorithm>

#include "diffmem/search/int_gram_device.h"

namespace diffmem::search::detail {

std::string DeviceIntKnn::unsupported(int64_t n, int64_t d) {
  // The largest key is 255² · d · n + n − 1.
  const long double largest = (65025.0L * static_cast<long double>(d) + 1.0L) * static_cast<long double>(n);
  if (largest < 9.2e18L) return "";
  return std::to_string(n) + " rows of " + std::to_string(d) +
         " values (their distance-and-index keys would overflow int64)";
}

DeviceIntKnn::DeviceIntKnn(const torch::Tensor& rows, int64_t base_block)
    : size_(rows.size(0)), dim_(rows.size(1)), base_block_(std::max<int64_t>(1, std::min(base_block, rows.size(0)))) {
  shifted_ = shift_u8_rows(rows);
  norms_ = shifted_norms(shifted_);
}

std::string DeviceIntKnn::kernel() const { return device_int_gram_name(device()); }

int64_t DeviceIntKnn::search(const torch::Tensor& queries, int64_t k, int64_t query_block,
                             torch::Tensor& indices, torch::Tensor& distances,
                             torch::Tensor& squared) const {
  const int64_t n_queries = queries.size(0);
  const auto on_device = shifted_.options();
  indices = torch::empty({n_queries, k}, on_device.dtype(torch::kLong));
  distances = torch::empty({n_queries, k}, on_device.dtype(torch::kFloat));
  squared = torch::empty({n_queries, k}, on_device.dtype(torch::kLong));
  const torch::Tensor position = torch::arange(size_, on_device.dtype(torch::kLong));
  const double scale = static_cast<double>(dim_) * 65025.0;
  int64_t peak = 0;
  for (int64_t q0 = 0; q0 < n_queries; q0 += query_block) {
    const int64_t rows = std::min(query_block, n_queries - q0);
    const torch::Tensor q = shift_u8_rows(queries.narrow(0, q0, rows).to(device()));
    const torch::Tensor qn = shifted_norms(q).unsqueeze(1);
    torch::Tensor best;  // [rows, ≤ k] keys, sqd · N + index
    for (int64_t b0 = 0; b0 < size_; b0 += base_block_) {
      const int64_t cols = std::min(base_block_, size_ - b0);
      torch::Tensor key = shifted_gram(q, shifted_.narrow(0, b0, cols));
      peak = std::max(peak, key.numel() * 12);  // the int64 keys and the int32 products
      key.mul_(-2).add_(qn).add_(norms_.narrow(0, b0, cols).unsqueeze(0));
      key.mul_(size_).add_(position.narrow(0, b0, cols).unsqueeze(0));
      torch::Tensor kept = std::get<0>(key.topk(std::min(k, cols), 1, /*largest=*/false, /*sorted=*/false));
      if (best.defined()) {
        kept = torch::cat({best, kept}, 1);
        kept = std::get<0>(kept.topk(std::min(k, kept.size(1)), 1, /*largest=*/false, /*sorted=*/false));
      }
      best = kept;
    }
    // Keys are unique (they carry the index), so sorting them orders by (distance, index).
    const torch::Tensor sorted = std::get<0>(best.sort(1));
    const torch::Tensor idx = sorted.remainder(size_);
    const torch::Tensor sqd = sorted.sub(idx).div_(size_, "trunc");
    indices.narrow(0, q0, rows).copy_(idx);
    squared.narrow(0, q0, rows).copy_(sqd);
    distances.narrow(0, q0, rows).copy_(sqd.to(torch::kDouble).div_(scale).sqrt_());
  }
  return peak;
}

}  // namespace diffmem::search::detail
