#include "diffmem/search/knn.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "diffmem/core/error.h"

namespace diffmem::search {
namespace {

// Brute force in double: every base row's normalized ℓ2 to query q.
std::vector<double> all_distances(const torch::Tensor& q, const torch::Tensor& base) {
  const int64_t n = base.size(0), d = base.size(1);
  const float* qp = q.data_ptr<float>();
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) {
    const float* b = base[i].data_ptr<float>();
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += (double(qp[j]) - b[j]) * (double(qp[j]) - b[j]);
    out[i] = std::sqrt(s / d);
  }
  return out;
}

// Base rows ordered by (distance, index).
std::vector<int64_t> brute_order(const std::vector<double>& dist) {
  std::vector<int64_t> order(dist.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return dist[a] < dist[b]; });
  return order;
}

// Checks one result against brute force. Where the true distances of two rows are within `tie`,
// either may be reported at that rank; everything else must match exactly.
void expect_matches_brute_force(const KnnResult& r, const torch::Tensor& queries,
                                const torch::Tensor& base, int64_t k, double tie) {
  ASSERT_EQ(r.indices.sizes(), torch::IntArrayRef({queries.size(0), k}));
  ASSERT_EQ(r.distances.sizes(), torch::IntArrayRef({queries.size(0), k}));
  ASSERT_EQ(r.indices.scalar_type(), torch::kLong);
  ASSERT_EQ(r.distances.scalar_type(), torch::kFloat);
  for (int64_t qi = 0; qi < queries.size(0); ++qi) {
    const std::vector<double> dist = all_distances(queries[qi], base);
    const std::vector<int64_t> want = brute_order(dist);
    std::vector<int64_t> seen;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t got = r.indices[qi][j].item<int64_t>();
      ASSERT_GE(got, 0);
      ASSERT_LT(got, base.size(0));
      seen.push_back(got);
      // The exact re-check reports the vectors' own distance, not the GEMM estimate.
      EXPECT_NEAR(r.distances[qi][j].item<float>(), dist[got], 2e-7 + 1e-6 * dist[got]);
      if (got != want[j]) {
        EXPECT_NEAR(dist[got], dist[want[j]], tie) << "query " << qi << " rank " << j;
      }
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end()) << "duplicate index, query " << qi;
  }
}

TEST(Knn, MatchesBruteForceForEverySelectionAndBlocking) {
  torch::manual_seed(7);
  const torch::Tensor base = torch::rand({700, 24});
  const torch::Tensor queries = torch::rand({130, 24});
  for (KnnSelect sel : {KnnSelect::kFused, KnnSelect::kTopk}) {
    for (auto [qb, bb] : {std::pair<int64_t, int64_t>{32, 100}, {130, 700}, {7, 3}, {0, 0}}) {
      KnnOptions o;
      o.k = 10;
      o.query_block = qb;
      o.base_block = bb;
      o.select = sel;
      SCOPED_TRACE(knn_select_name(sel) + " qb=" + std::to_string(qb) + " bb=" + std::to_string(bb));
      expect_matches_brute_force(knn(queries, base, o), queries, base, 10, 1e-6);
    }
  }
}

TEST(Knn, WithoutRecheckDistancesStillClose) {
  torch::manual_seed(8);
  const torch::Tensor base = torch::rand({300, 40});
  const torch::Tensor queries = torch::rand({20, 40});
  KnnOptions o;
  o.k = 5;
  o.exact_recheck = false;
  const KnnResult r = knn(queries, base, o);
  for (int64_t qi = 0; qi < 20; ++qi) {
    const std::vector<double> dist = all_distances(queries[qi], base);
    const std::vector<int64_t> want = brute_order(dist);
    for (int64_t j = 0; j < 5; ++j) {
      EXPECT_EQ(r.indices[qi][j].item<int64_t>(), want[j]);
      EXPECT_NEAR(r.distances[qi][j].item<float>(), dist[want[j]], 1e-4);
    }
  }
}

TEST(Knn, TiesAreOrderedByBaseIndex) {
  // Values on a 1/4 grid make every product and sum exact in float, so duplicated base rows have
  // identical distances in the GEMM and in the re-check: the order is fully determined.
  torch::manual_seed(9);
  const torch::Tensor distinct = torch::randint(0, 5, {10, 16}).to(torch::kFloat).div_(4);
  const torch::Tensor pos = torch::randperm(50);  // base row pos[i] holds distinct[i % 10]
  torch::Tensor base = torch::empty({50, 16});
  for (int64_t i = 0; i < 50; ++i) base[pos[i].item<int64_t>()] = distinct[i % 10];
  const torch::Tensor queries = torch::randint(0, 5, {6, 16}).to(torch::kFloat).div_(4);
  for (KnnSelect sel : {KnnSelect::kFused, KnnSelect::kTopk}) {
    KnnOptions o;
    o.k = 12;  // cuts through a group of five copies
    o.base_block = 8;
    o.select = sel;
    const KnnResult r = knn(queries, base, o);
    for (int64_t qi = 0; qi < 6; ++qi) {
      const std::vector<double> dist = all_distances(queries[qi], base);
      const std::vector<int64_t> want = brute_order(dist);
      for (int64_t j = 0; j < 12; ++j) {
        const int64_t got = r.indices[qi][j].item<int64_t>();
        EXPECT_FLOAT_EQ(r.distances[qi][j].item<float>(), float(dist[want[j]]));
        if (sel == KnnSelect::kFused) {
          EXPECT_EQ(got, want[j]) << "query " << qi << " rank " << j;  // (distance, index) order
        } else if (j > 0 && r.distances[qi][j].item<float>() == r.distances[qi][j - 1].item<float>()) {
          // torch::topk may keep any of the copies tied at the k-th place, but in index order.
          EXPECT_GT(got, r.indices[qi][j - 1].item<int64_t>());
        }
      }
    }
  }
}

TEST(Knn, StreamedBatchesEqualOneShot) {
  torch::manual_seed(10);
  const torch::Tensor base = torch::rand({1000, 32});
  const torch::Tensor queries = torch::rand({300, 32});
  KnnOptions o;
  o.k = 8;
  o.query_block = 64;   // 300 queries: five blocks, the last partial
  o.base_block = 128;   // 1000 base rows: eight blocks, the last partial
  const KnnResult one = knn(queries, base, o);
  const KnnIndex index(base, o);
  std::vector<torch::Tensor> idx, dist;
  for (auto [start, len] : {std::pair<int64_t, int64_t>{0, 1}, {1, 77}, {78, 222}}) {
    const KnnResult part = index.search(queries.narrow(0, start, len));
    idx.push_back(part.indices);
    dist.push_back(part.distances);
  }
  EXPECT_TRUE(torch::equal(torch::cat(idx), one.indices));
  EXPECT_TRUE(torch::equal(torch::cat(dist), one.distances));
  EXPECT_EQ(one.query_block, 64);
  EXPECT_EQ(one.base_block, 128);
  // A different blocking visits the base in another order and must find the same neighbours.
  KnnOptions wide = o;
  wide.query_block = 300;
  wide.base_block = 1000;
  EXPECT_TRUE(torch::equal(knn(queries, base, wide).indices, one.indices));
}

TEST(Knn, ThreadCountDoesNotChangeResults) {
  // With several torch threads each thread multiplies and folds its own query rows (and OpenBLAS
  // is held to one thread); with one, the BLAS threads the GEMM. Both must agree exactly.
  torch::manual_seed(15);
  const torch::Tensor base = torch::rand({2500, 48});
  const torch::Tensor queries = torch::rand({333, 48});
  KnnOptions o;
  o.k = 9;
  o.query_block = 100;
  o.base_block = 512;
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  const KnnResult one = knn(queries, base, o);
  at::set_num_threads(2);
  const KnnResult two = knn(queries, base, o);
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(one.indices, two.indices));
  EXPECT_TRUE(torch::equal(one.distances, two.distances));
  KnnResult head = two;
  head.indices = two.indices.narrow(0, 0, 40);
  head.distances = two.distances.narrow(0, 0, 40);
  expect_matches_brute_force(head, queries.narrow(0, 0, 40), base, 9, 1e-6);
}

TEST(Knn, Uint8ImagesSearchAsUnitFloats) {
  torch::manual_seed(11);
  const torch::Tensor base_u8 = torch::randint(0, 256, {200, 4, 4, 3}).to(torch::kByte);
  const torch::Tensor q_u8 = torch::randint(0, 256, {30, 4, 4, 3}).to(torch::kByte);
  KnnOptions o;
  o.k = 4;
  const KnnResult a = knn(q_u8, base_u8, o);
  const KnnResult b = knn(q_u8.flatten(1).to(torch::kFloat) / 255, base_u8.flatten(1).to(torch::kFloat) / 255, o);
  EXPECT_TRUE(torch::equal(a.indices, b.indices));
  EXPECT_TRUE(torch::allclose(a.distances, b.distances, 0, 1e-6));
}

TEST(Knn, NanQueryReportsNoNeighbours) {
  torch::Tensor base = torch::rand({20, 8});
  torch::Tensor q = torch::rand({2, 8});
  q[1][3] = NAN;
  for (KnnSelect sel : {KnnSelect::kFused, KnnSelect::kTopk}) {
    KnnOptions o;
    o.k = 3;
    o.select = sel;
    const KnnResult r = knn(q, base, o);
    EXPECT_TRUE(r.indices[1].eq(-1).all().item<bool>()) << knn_select_name(sel);
    EXPECT_TRUE(r.distances[1].isinf().all().item<bool>());
    EXPECT_TRUE(r.indices[0].ge(0).all().item<bool>());
  }
}

TEST(Knn, OptionsRoundTripThroughJson) {
  KnnOptions o;
  o.k = 7;
  o.query_block = 16;
  o.exact_recheck = false;
  o.select = KnnSelect::kTopk;
  const KnnOptions back = nlohmann::json(o).get<KnnOptions>();
  EXPECT_EQ(back.k, 7);
  EXPECT_EQ(back.query_block, 16);
  EXPECT_EQ(back.base_block, 0);
  EXPECT_FALSE(back.exact_recheck);
  EXPECT_EQ(back.select, KnnSelect::kTopk);
  EXPECT_THROW(nlohmann::json({{"select", "heap"}}).get<KnnOptions>(), Error);
}

TEST(Knn, BadInputThrows) {
  const torch::Tensor base = torch::rand({10, 6});
  KnnOptions o;
  o.k = 3;
  try {
    knn(torch::rand({2, 5}), base, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dimension 6"), std::string::npos) << e.what();
  }
  o.k = 11;
  EXPECT_THROW(knn(torch::rand({2, 6}), base, o), Error);  // k > base size
  o.k = 0;
  EXPECT_THROW(KnnIndex(base, o), Error);
  o.k = 2;
  EXPECT_THROW(knn(torch::rand({2, 6}).to(torch::kDouble), base, o), Error);
  EXPECT_THROW(KnnIndex(torch::rand({10, 2, 3}), o), Error);
}

TEST(Knn, MatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(12);
  const torch::Tensor base = torch::rand({5000, 64});
  const torch::Tensor queries = torch::rand({700, 64});
  KnnOptions o;
  o.k = 20;
  o.query_block = 256;
  o.base_block = 1024;
  const KnnResult cpu = knn(queries, base, o);
  const KnnResult gpu = knn(queries.cuda(), base.cuda(), o);
  EXPECT_TRUE(gpu.indices.is_cuda());
  EXPECT_TRUE(torch::allclose(gpu.distances.cpu(), cpu.distances, 0, 1e-5));
  const double agree = gpu.indices.cpu().eq(cpu.indices).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(agree, 0.999);
}

}  // namespace
}  // namespace diffmem::search
