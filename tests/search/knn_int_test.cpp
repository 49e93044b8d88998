// The exact integer k-NN of uint8 images against an int64 brute force: the same neighbours in the
// same (distance, index) order, distances rounded once from the exact value, on random and
// adversarial bases, any blocking, 1 or 2 threads.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "diffmem/core/error.h"
#include "diffmem/search/int_gram.h"
#include "diffmem/search/knn.h"
#include "../../src/search/knn_int_device.h"

namespace diffmem::search {
namespace {

#define SKIP_WITHOUT_KERNEL()                                                      \
  if (!int_gram_kernel().available) GTEST_SKIP() << int_gram_kernel().reason

struct Brute {
  std::vector<int64_t> order;  // base rows by (‖q−b‖², index)
  std::vector<int64_t> sqd;    // ‖q−b‖² per base row
};

Brute brute_knn(const torch::Tensor& q, const torch::Tensor& base) {
  const torch::Tensor diff = base.to(torch::kLong) - q.to(torch::kLong).unsqueeze(0);
  const torch::Tensor s = diff.mul(diff).sum(1).contiguous();
  Brute b;
  b.sqd.assign(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
  b.order.resize(b.sqd.size());
  std::iota(b.order.begin(), b.order.end(), 0);
  std::stable_sort(b.order.begin(), b.order.end(),
                   [&](int64_t x, int64_t y) { return b.sqd[size_t(x)] < b.sqd[size_t(y)]; });
  return b;
}

void expect_exact(const KnnResult& r, const torch::Tensor& queries, const torch::Tensor& base,
                  int64_t k) {
  const int64_t d = base.size(1);
  ASSERT_EQ(r.indices.sizes(), torch::IntArrayRef({queries.size(0), k}));
  for (int64_t qi = 0; qi < queries.size(0); ++qi) {
    const Brute b = brute_knn(queries[qi], base);
    for (int64_t j = 0; j < k; ++j) {
      const int64_t want = b.order[size_t(j)];
      ASSERT_EQ(r.indices[qi][j].item<int64_t>(), want) << "query " << qi << " rank " << j;
      const float dist = static_cast<float>(std::sqrt(double(b.sqd[size_t(want)]) / (d * 65025.0)));
      ASSERT_EQ(r.distances[qi][j].item<float>(), dist) << "query " << qi << " rank " << j;
      if (r.squared.defined()) {
        ASSERT_EQ(r.squared[qi][j].item<int64_t>(), b.sqd[size_t(want)]) << "query " << qi << " rank " << j;
      }
    }
  }
}

KnnOptions integer_options(int64_t k, int64_t qb = 0, int64_t bb = 0) {
  KnnOptions o;
  o.k = k;
  o.query_block = qb;
  o.base_block = bb;
  o.arithmetic = KnnArithmetic::kInteger;
  return o;
}

TEST(KnnInt, Uint8BasesTakeTheIntegerPathByDefault) {
  SKIP_WITHOUT_KERNEL();
  const torch::Tensor base = torch::randint(0, 256, {50, 4, 4, 3}).to(torch::kByte);
  KnnOptions o;
  o.k = 3;
  EXPECT_TRUE(KnnIndex(base, o).integer());
  EXPECT_NE(KnnIndex(base, o).arithmetic().find("integer"), std::string::npos);
  o.arithmetic = KnnArithmetic::kFloat;
  EXPECT_FALSE(KnnIndex(base, o).integer());
  o.arithmetic = KnnArithmetic::kAuto;
  EXPECT_FALSE(KnnIndex(base.flatten(1).to(torch::kFloat).div(255), o).integer());
}

TEST(KnnInt, MatchesAnInt64BruteForceForAnyBlocking) {
  SKIP_WITHOUT_KERNEL();
  torch::manual_seed(31);
  const torch::Tensor base = torch::randint(0, 256, {700, 75}).to(torch::kByte);
  const torch::Tensor queries = torch::randint(0, 256, {90, 75}).to(torch::kByte);
  for (auto [qb, bb] : {std::pair<int64_t, int64_t>{0, 0}, {7, 64}, {90, 700}, {1, 1}, {33, 650}}) {
    SCOPED_TRACE("qb=" + std::to_string(qb) + " bb=" + std::to_string(bb));
    const KnnResult r = knn(queries, base, integer_options(6, qb, bb));
    ASSERT_TRUE(r.squared.defined());  // the exact ‖q−b‖², checked in expect_exact
    expect_exact(r, queries, base, 6);
  }
}

TEST(KnnInt, TiesAreTrueTiesOrderedByIndex) {
  SKIP_WITHOUT_KERNEL();
  torch::manual_seed(32);
  // Ten distinct rows, each copied five times at random places; and the extremes.
  const torch::Tensor distinct = torch::randint(0, 4, {10, 48}).to(torch::kByte).mul_(85);
  const torch::Tensor pos = torch::randperm(50);
  torch::Tensor base = torch::empty({50, 48}, torch::kByte);
  for (int64_t i = 0; i < 50; ++i) base[pos[i].item<int64_t>()] = distinct[i % 10];
  const torch::Tensor queries = torch::randint(0, 4, {8, 48}).to(torch::kByte).mul_(85);
  expect_exact(knn(queries, base, integer_options(12, 3, 8)), queries, base, 12);

  const torch::Tensor zeros = torch::zeros({40, 64}, torch::kByte);
  const torch::Tensor full = torch::full({3, 64}, 255, torch::kByte);
  const KnnResult r = knn(full, zeros, integer_options(40, 0, 16));
  expect_exact(r, full, zeros, 40);
  EXPECT_EQ(r.distances[0][0].item<float>(), 1.0f);  // every pixel 255 apart: ℓ2 exactly 1
  const torch::Tensor mixed = torch::cat({zeros, full}, 0);
  expect_exact(knn(full, mixed, integer_options(5)), full, mixed, 5);
}

TEST(KnnInt, LargestRowsStillFitInt32) {
  SKIP_WITHOUT_KERNEL();
  // 16,480 values: the fold value of all-255 rows against all-0 rows is near the int32 limit.
  const int64_t d = 16480;
  torch::Tensor base = torch::zeros({6, d}, torch::kByte);
  base[1].fill_(255);
  base[2].fill_(128);
  base[3] = torch::randint(0, 256, {d}).to(torch::kByte);
  base[4].fill_(1);
  base[5].fill_(254);
  const torch::Tensor queries = torch::stack({base[1], base[0], base[3], base[2]});
  expect_exact(knn(queries, base, integer_options(6)), queries, base, 6);
  // Longer rows: auto takes the float path; 'integer' the exact float64 products instead.
  torch::Tensor longer = torch::zeros({3, d + 1}, torch::kByte);
  longer[1].fill_(255);
  EXPECT_FALSE(KnnIndex(longer, KnnOptions{1}).integer());
  const KnnIndex exact(longer, integer_options(3));
  EXPECT_NE(exact.arithmetic().find("float64"), std::string::npos) << exact.arithmetic();
  expect_exact(exact.search(longer.narrow(0, 1, 2)), longer.narrow(0, 1, 2), longer, 3);
}

TEST(KnnInt, SameBytesOnOneAndTwoThreadsAndStreamed) {
  SKIP_WITHOUT_KERNEL();
  torch::manual_seed(33);
  const torch::Tensor base = torch::randint(0, 256, {1500, 5, 5, 3}).to(torch::kByte);
  const torch::Tensor queries = torch::randint(0, 256, {257, 5, 5, 3}).to(torch::kByte);
  const KnnOptions o = integer_options(7, 64, 256);
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  const KnnResult one = knn(queries, base, o);
  at::set_num_threads(2);
  const KnnResult two = knn(queries, base, o);
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(one.indices, two.indices));
  EXPECT_TRUE(torch::equal(one.distances, two.distances));
  const KnnIndex index(base, o);
  const KnnResult a = index.search(queries.narrow(0, 0, 100));
  const KnnResult b = index.search(queries.narrow(0, 100, 157));
  EXPECT_TRUE(torch::equal(torch::cat({a.indices, b.indices}), one.indices));
  EXPECT_TRUE(torch::equal(torch::cat({a.distances, b.distances}), one.distances));
  KnnResult head = one;
  head.indices = one.indices.narrow(0, 0, 30);
  head.distances = one.distances.narrow(0, 0, 30);
  expect_exact(head, queries.flatten(1).narrow(0, 0, 30), base.flatten(1), 7);
}

TEST(KnnInt, AgreesWithTheFloatPathAndServesFloatQueries) {
  SKIP_WITHOUT_KERNEL();
  torch::manual_seed(34);
  const torch::Tensor base = torch::randint(0, 256, {400, 60}).to(torch::kByte);
  const torch::Tensor queries = torch::randint(0, 256, {50, 60}).to(torch::kByte);
  KnnOptions fo;
  fo.k = 5;
  fo.arithmetic = KnnArithmetic::kFloat;
  const KnnResult f = knn(queries, base, fo);
  const KnnIndex index(base, integer_options(5));
  const KnnResult i = index.search(queries);
  EXPECT_TRUE(torch::equal(i.indices, f.indices));
  EXPECT_TRUE(torch::allclose(i.distances, f.distances, 0, 1e-6));
  // Float queries on an integer index run on a float copy of the base.
  const KnnResult fq = index.search(queries.to(torch::kFloat).div(255));
  EXPECT_TRUE(torch::equal(fq.indices, f.indices));
  // rows() gives the stored bytes, unit_rows() the [0,1] floats.
  EXPECT_EQ(index.rows(3, 2).scalar_type(), torch::kByte);
  EXPECT_TRUE(torch::equal(index.rows(3, 2), base.narrow(0, 3, 2)));
  EXPECT_TRUE(torch::allclose(index.unit_rows(torch::tensor({int64_t(7), int64_t(-1)})),
                              torch::stack({base[7], base[0]}).to(torch::kFloat).div(255)));
}

// The LibTorch path (a GPU's, here on the CPU with float64 products): the same neighbours, order
// and distance bits as the brute force, whatever the blocking.
TEST(KnnInt, TorchPathMatchesAnInt64BruteForce) {
  torch::manual_seed(41);
  // Few distinct byte values, so that many distances tie.
  torch::Tensor base = torch::randint(0, 3, {500, 45}).mul_(120).to(torch::kByte);
  base.narrow(0, 400, 3).copy_(base.narrow(0, 10, 3));  // exact duplicates
  const torch::Tensor queries = torch::cat({torch::randint(0, 256, {20, 45}).to(torch::kByte), base.narrow(0, 9, 5)});
  for (const auto& [qb, bb] : {std::pair<int64_t, int64_t>{7, 64}, {25, 500}, {3, 1}}) {
    const detail::DeviceIntKnn index(base, bb);
    KnnResult r;
    index.search(queries, 9, qb, r.indices, r.distances, r.squared);
    ASSERT_TRUE(r.squared.defined());
    expect_exact(r, queries, base, 9);
  }
  EXPECT_EQ(detail::DeviceIntKnn(base, 64).kernel(), "float64 GEMM (exact)");
  EXPECT_EQ(detail::DeviceIntKnn::unsupported(60000, 3072), "");
  EXPECT_NE(detail::DeviceIntKnn::unsupported(int64_t(1) << 40, 786432), "");
}

TEST(KnnInt, GpuIndexEqualsTheCpuBytes_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(43);
  torch::Tensor base = torch::randint(0, 256, {3000, 16, 16, 3}).to(torch::kByte);
  base.narrow(0, 2000, 5).copy_(base.narrow(0, 100, 5));
  const torch::Tensor queries = torch::cat({torch::randint(0, 256, {300, 16, 16, 3}).to(torch::kByte), base.narrow(0, 98, 10)});
  KnnOptions o;
  o.k = 12;
  o.base_block = 1000;
  const KnnIndex gpu(base.cuda(), o);
  EXPECT_TRUE(gpu.integer()) << gpu.arithmetic();
  const KnnResult g = gpu.search(queries);
  EXPECT_TRUE(g.indices.is_cuda());
  const detail::DeviceIntKnn cpu(base.flatten(1), 1000);
  KnnResult c;
  cpu.search(queries.flatten(1), 12, 128, c.indices, c.distances, c.squared);
  EXPECT_TRUE(torch::equal(g.indices.cpu(), c.indices));
  EXPECT_TRUE(torch::equal(g.squared.cpu(), c.squared));
  EXPECT_TRUE(torch::equal(g.distances.cpu(), c.distances));
  KnnResult head = c;
  head.indices = c.indices.narrow(0, 295, 15);
  head.distances = c.distances.narrow(0, 295, 15);
  head.squared = c.squared.narrow(0, 295, 15);
  expect_exact(head, queries.flatten(1).narrow(0, 295, 15), base.flatten(1), 12);
}

TEST(KnnInt, IntegerOnAFloatBaseIsAnError) {
  try {
    KnnIndex(torch::rand({10, 4}), integer_options(2));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("arithmetic"), std::string::npos) << e.what();
  }
  KnnOptions o = integer_options(2);
  const KnnOptions back = nlohmann::json(o).get<KnnOptions>();
  EXPECT_EQ(back.arithmetic, KnnArithmetic::kInteger);
  EXPECT_THROW(nlohmann::json({{"arithmetic", "int8"}}).get<KnnOptions>(), Error);
}

}  // namespace
}  // namespace diffmem::search
