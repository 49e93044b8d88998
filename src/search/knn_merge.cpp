#include "diffmem/search/knn_merge.h"

#include <torch/torch.h>

#include <limits>
#include <string>

#include "diffmem/core/error.h"

namespace diffmem::search {

namespace {
constexpr const char* kWhere = "search::merge_knn";
// Queries per chunk of squared_l2_u8: bounds the [chunk,k,D] int32 differences.
constexpr int64_t kKeyChunkElements = int64_t{1} << 22;
}  // namespace

torch::Tensor squared_l2_u8(const torch::Tensor& queries_in, const torch::Tensor& base_in,
                            const torch::Tensor& indices) {
  check(queries_in.scalar_type() == torch::kByte && base_in.scalar_type() == torch::kByte &&
            queries_in.dim() >= 2 && base_in.dim() >= 2,
        "search::squared_l2_u8", "uint8 queries and base", std::string(c10::toString(queries_in.scalar_type())) +
                                                               " and " + c10::toString(base_in.scalar_type()));
  const torch::Tensor q = queries_in.flatten(1).to(torch::kCPU);
  const torch::Tensor b = base_in.flatten(1).to(torch::kCPU);
  const torch::Tensor idx = indices.to(torch::kCPU);
  check(q.size(1) == b.size(1) && idx.dim() == 2 && idx.size(0) == q.size(0), "search::squared_l2_u8",
        "queries [Q,D], base [N,D] and indices [Q,k]",
        c10::str(q.sizes()) + ", " + c10::str(b.sizes()) + ", " + c10::str(idx.sizes()));
  const int64_t n = q.size(0), k = idx.size(1), d = q.size(1);
  torch::Tensor keys = torch::empty({n, k}, torch::kLong);
  if (n == 0 || k == 0) return keys;
  const int64_t chunk = std::max<int64_t>(1, kKeyChunkElements / std::max<int64_t>(1, k * d));
  for (int64_t r0 = 0; r0 < n; r0 += chunk) {
    const int64_t r = std::min(chunk, n - r0);
    const torch::Tensor ids = idx.narrow(0, r0, r);
    torch::Tensor diff = b.index_select(0, ids.clamp_min(0).reshape({-1})).view({r, k, d}).to(torch::kInt);
    diff.sub_(q.narrow(0, r0, r).to(torch::kInt).unsqueeze(1));
    diff.mul_(diff);  // ≤ 255² per value: int32; the sum over D in int64
    torch::Tensor s = diff.sum(2, /*keepdim=*/false, torch::kLong);
    s.masked_fill_(ids.lt(0), std::numeric_limits<int64_t>::max());
    keys.narrow(0, r0, r).copy_(s);
  }
  return keys;
}

KnnResult merge_knn(const std::vector<KnnPart>& parts, int64_t k) {
  check(!parts.empty(), kWhere, "at least one part", "none");
  const int64_t n = parts[0].result.indices.size(0);
  std::vector<torch::Tensor> idx, dist, keys;
  int64_t columns = 0;
  for (size_t p = 0; p < parts.size(); ++p) {
    const KnnPart& part = parts[p];
    const torch::Tensor i = part.result.indices.to(torch::kCPU);
    check(i.dim() == 2 && i.size(0) == n && part.result.distances.sizes() == i.sizes() &&
              part.keys.sizes() == i.sizes(),
          kWhere, "part " + std::to_string(p) + " with indices, distances and keys [" + std::to_string(n) + ",k]",
          c10::str(i.sizes()) + ", " + c10::str(part.result.distances.sizes()) + ", " +
              c10::str(part.keys.sizes()));
    // A part's -1 (no finite distance) stays -1 in the whole base.
    idx.push_back(torch::where(i.ge(0), i + part.offset, i));
    dist.push_back(part.result.distances.to(torch::kCPU));
    keys.push_back(part.keys.to(torch::kCPU));
    columns += i.size(1);
  }
  check(k >= 0 && k <= columns, kWhere, "k between 0 and the parts' " + std::to_string(columns) + " columns",
        std::to_string(k));
  const torch::Tensor all_idx = torch::cat(idx, 1), all_dist = torch::cat(dist, 1), all_keys = torch::cat(keys, 1);
  // Index order first, then a stable sort by key: equal keys end in ascending index order.
  const auto by_index = all_idx.sort(1);
  const torch::Tensor order_i = std::get<1>(by_index);
  const auto by_key = torch::sort(all_keys.gather(1, order_i), /*stable=*/true, /*dim=*/1, /*descending=*/false);
  const torch::Tensor order = order_i.gather(1, std::get<1>(by_key)).narrow(1, 0, k);
  KnnResult r;
  r.indices = all_idx.gather(1, order).contiguous();
  r.distances = all_dist.gather(1, order).contiguous();
  r.query_block = parts[0].result.query_block;
  r.base_block = parts[0].result.base_block;
  for (const KnnPart& part : parts) r.peak_temp_bytes = std::max(r.peak_temp_bytes, part.result.peak_temp_bytes);
  return r;
}

}  // namespace diffmem::search
