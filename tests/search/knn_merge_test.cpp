// A base searched in parts and merged (knn_merge.h) against one search of the whole base: the same
// neighbours in the same (‖q−b‖², index) order, ties across parts included.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "diffmem/core/error.h"
#include "diffmem/search/int_gram.h"
#include "diffmem/search/knn.h"
#include "diffmem/search/knn_merge.h"

namespace diffmem::search {
namespace {

// The exact k nearest of `queries` in `base` (u8 [n,D]) by (‖q−b‖², index), as KnnIndex reports them.
KnnResult exact_knn(const torch::Tensor& queries, const torch::Tensor& base, int64_t k) {
  const int64_t d = base.size(1);
  KnnResult r;
  r.indices = torch::empty({queries.size(0), k}, torch::kLong);
  r.distances = torch::empty({queries.size(0), k}, torch::kFloat);
  for (int64_t qi = 0; qi < queries.size(0); ++qi) {
    const torch::Tensor diff = base.to(torch::kLong) - queries[qi].to(torch::kLong).unsqueeze(0);
    const torch::Tensor s = diff.mul(diff).sum(1).contiguous();
    std::vector<int64_t> sqd(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
    std::vector<int64_t> order(sqd.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sqd[a] < sqd[b]; });
    for (int64_t j = 0; j < k; ++j) {
      r.indices[qi][j] = order[j];
      r.distances[qi][j] = static_cast<float>(std::sqrt(double(sqd[order[j]]) / (d * 65025.0)));
    }
  }
  return r;
}

// The parts [bounds[p], bounds[p+1]) of `base`, each searched by `search`, keyed and merged.
template <class Search>
KnnResult merged_parts(const torch::Tensor& queries, const torch::Tensor& base, const std::vector<int64_t>& bounds,
                 int64_t k, Search search) {
  std::vector<KnnPart> parts;
  for (size_t p = 0; p + 1 < bounds.size(); ++p) {
    const torch::Tensor rows = base.narrow(0, bounds[p], bounds[p + 1] - bounds[p]);
    KnnPart part;
    part.result = search(queries, rows, std::min(k, rows.size(0)));
    part.offset = bounds[p];
    part.keys = squared_l2_u8(queries, rows, part.result.indices);
    parts.push_back(part);
  }
  return merge_knn(parts, k);
}

void expect_same_knn(const KnnResult& got, const KnnResult& want) {
  ASSERT_EQ(got.indices.sizes(), want.indices.sizes());
  EXPECT_TRUE(torch::equal(got.indices, want.indices)) << got.indices << "\nwant\n" << want.indices;
  EXPECT_TRUE(torch::equal(got.distances, want.distances)) << got.distances << "\nwant\n" << want.distances;
}

TEST(KnnMerge, SquaredL2U8IsTheExactIntegerDistance) {
  torch::manual_seed(5);
  const torch::Tensor base = torch::randint(0, 256, {30, 4, 4, 3}).to(torch::kByte);
  const torch::Tensor queries = torch::randint(0, 256, {7, 4, 4, 3}).to(torch::kByte);
  const torch::Tensor idx = torch::randint(0, 30, {7, 5}).to(torch::kLong);
  idx[2][3] = -1;
  const torch::Tensor keys = squared_l2_u8(queries, base, idx);
  for (int64_t q = 0; q < 7; ++q)
    for (int64_t j = 0; j < 5; ++j) {
      const int64_t i = idx[q][j].item<int64_t>();
      if (i < 0) {
        EXPECT_EQ(keys[q][j].item<int64_t>(), std::numeric_limits<int64_t>::max());
        continue;
      }
      const torch::Tensor diff = base[i].flatten().to(torch::kLong) - queries[q].flatten().to(torch::kLong);
      EXPECT_EQ(keys[q][j].item<int64_t>(), diff.mul(diff).sum().item<int64_t>()) << q << "," << j;
    }
}

TEST(KnnMerge, ExactPartsMergeIntoTheWholeSearchTiesAcrossPartsIncluded) {
  torch::manual_seed(6);
  // Few distinct values and rows copied across parts: many exact ties, several straddling parts.
  const torch::Tensor distinct = torch::randint(0, 3, {12, 27}).to(torch::kByte).mul_(120);
  const torch::Tensor pick = torch::randint(0, 12, {90});
  const torch::Tensor base = distinct.index_select(0, pick);
  const torch::Tensor queries = torch::randint(0, 3, {20, 27}).to(torch::kByte).mul_(120);
  for (const std::vector<int64_t>& bounds :
       {std::vector<int64_t>{0, 90}, {0, 45, 90}, {0, 7, 50, 90}, {0, 1, 2, 89, 90}}) {
    SCOPED_TRACE(std::to_string(bounds.size() - 1) + " parts");
    for (int64_t k : {1, 3, 10}) {
      SCOPED_TRACE("k=" + std::to_string(k));
      expect_same_knn(merged_parts(queries, base, bounds, k, exact_knn), exact_knn(queries, base, k));
    }
  }
}

TEST(KnnMerge, IntegerIndexInPartsGivesTheWholeIndexsResult) {
  if (!int_gram_kernel().available) GTEST_SKIP() << int_gram_kernel().reason;
  torch::manual_seed(7);
  const torch::Tensor base = torch::randint(0, 256, {300, 8, 8, 3}).to(torch::kByte);
  torch::Tensor queries = torch::randint(0, 256, {25, 8, 8, 3}).to(torch::kByte);
  queries[3] = base[250];  // an exact copy in the last part
  queries[4] = base[10];
  KnnOptions o;
  o.k = 8;
  o.arithmetic = KnnArithmetic::kInteger;
  auto search = [&](const torch::Tensor& q, const torch::Tensor& b, int64_t k) {
    KnnOptions ok = o;
    ok.k = k;
    return KnnIndex(b, ok).search(q);
  };
  expect_same_knn(merged_parts(queries, base, {0, 97, 200, 300}, 8, search), KnnIndex(base, o).search(queries));
  expect_same_knn(merged_parts(queries, base, {0, 5, 300}, 8, search), KnnIndex(base, o).search(queries));
}

TEST(KnnMerge, RefusesPartsThatDisagree) {
  KnnPart a, b;
  a.result.indices = torch::zeros({3, 2}, torch::kLong);
  a.result.distances = torch::zeros({3, 2});
  a.keys = torch::zeros({3, 2}, torch::kLong);
  b = a;
  b.result.indices = torch::zeros({4, 2}, torch::kLong);
  EXPECT_THROW(merge_knn({a, b}, 2), Error);
  EXPECT_THROW(merge_knn({a}, 3), Error);  // k above the parts' columns
  EXPECT_THROW(merge_knn({}, 1), Error);
  EXPECT_EQ(merge_knn({a, a}, 4).indices.size(1), 4);
}

}  // namespace
}  // namespace diffmem::search
