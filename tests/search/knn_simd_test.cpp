// Every vector kernel this CPU runs must keep exactly the candidates the scalar kernel keeps and
// measure distances as a float64 loop does.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "../../src/search/knn_simd.h"

namespace diffmem::search::detail {
namespace {

std::vector<Candidate> run_scan(const Kernels& kern, const float* ip, const float* bn,
                                int64_t cols, int64_t k, int64_t blocks) {
  std::vector<Candidate> heap(k);
  RowHeap h{heap.data(), 0, k, std::numeric_limits<float>::infinity()};
  // Several blocks of the same row, as knn folds them: later indices, tighter threshold.
  for (int64_t b = 0; b < blocks; ++b) kern.scan(ip + b * cols, bn + b * cols, cols, b * cols, h);
  heap.resize(h.count);
  std::sort(heap.begin(), heap.end(), candidate_less);
  return heap;
}

TEST(KnnSimd, EveryIsaKeepsTheScalarCandidates) {
  const Kernels& scalar = *kernels_for("scalar");
  torch::manual_seed(21);
  for (int64_t cols : {1, 15, 16, 17, 63, 64, 65, 200, 1000}) {
    const int64_t blocks = 3;
    torch::Tensor ip = torch::rand({blocks * cols});
    // Quarter-step values: many exact ties, which must resolve to the smaller index everywhere.
    torch::Tensor bn = torch::randint(0, 8, {blocks * cols}).to(torch::kFloat).div_(4);
    ip = ip.mul_(4).round_().div_(4);
    if (cols > 20) ip[7] = std::numeric_limits<float>::quiet_NaN();
    for (int64_t k : {1, 5, 50}) {
      const auto want = run_scan(scalar, ip.data_ptr<float>(), bn.data_ptr<float>(), cols, k, blocks);
      ASSERT_EQ(static_cast<int64_t>(want.size()),
                std::min<int64_t>(k, blocks * cols - (cols > 20 ? 1 : 0)));
      for (const char* isa : {"avx2", "avx512"}) {
        const Kernels* kern = kernels_for(isa);
        if (kern == nullptr) continue;
        const auto got = run_scan(*kern, ip.data_ptr<float>(), bn.data_ptr<float>(), cols, k, blocks);
        ASSERT_EQ(got.size(), want.size()) << isa << " cols " << cols << " k " << k;
        for (size_t i = 0; i < got.size(); ++i) {
          EXPECT_EQ(got[i].index, want[i].index) << isa << " cols " << cols << " k " << k;
          EXPECT_EQ(got[i].value, want[i].value);
        }
      }
    }
  }
}

TEST(KnnSimd, EveryIsaKeepsTheScalarIntegerCandidates) {
  torch::manual_seed(22);
  for (int64_t cols : {1, 15, 16, 17, 63, 64, 65, 200, 1000}) {
    const int64_t blocks = 3;
    // Few distinct values: many exact ties; and values near the int32 range the fold allows.
    torch::Tensor ip = torch::randint(-4, 4, {blocks * cols}).to(torch::kInt);
    torch::Tensor bn = torch::randint(0, 8, {blocks * cols}).to(torch::kInt);
    if (cols > 20) {
      ip[3] = -500000000;
      bn[3] = 1000000000;
      ip[9] = 500000000;
    }
    for (int64_t k : {1, 5, 50}) {
      std::vector<std::vector<CandidateOf<int32_t>>> results;
      for (const char* isa : {"scalar", "avx2", "avx512"}) {
        const Kernels* kern = kernels_for(isa);
        if (kern == nullptr) continue;
        std::vector<CandidateOf<int32_t>> heap(k);
        RowHeapOf<int32_t> h{heap.data(), 0, k, std::numeric_limits<int32_t>::max()};
        for (int64_t b = 0; b < blocks; ++b) {
          kern->scan_i32(ip.data_ptr<int32_t>() + b * cols, bn.data_ptr<int32_t>() + b * cols,
                         cols, b * cols, h);
        }
        heap.resize(h.count);
        std::sort(heap.begin(), heap.end(), candidate_less);
        ASSERT_EQ(static_cast<int64_t>(heap.size()), std::min(k, blocks * cols)) << isa;
        results.push_back(heap);
      }
      for (size_t r = 1; r < results.size(); ++r) {
        ASSERT_EQ(results[r].size(), results[0].size());
        for (size_t i = 0; i < results[0].size(); ++i) {
          EXPECT_EQ(results[r][i].index, results[0][i].index) << "cols " << cols << " k " << k;
          EXPECT_EQ(results[r][i].value, results[0][i].value);
        }
      }
      // The scalar kernel keeps the true k smallest by (value, index).
      std::vector<CandidateOf<int32_t>> all;
      for (int64_t j = 0; j < blocks * cols; ++j) {
        all.push_back({bn[j].item<int32_t>() - 2 * ip[j].item<int32_t>(), j});
      }
      std::sort(all.begin(), all.end(), candidate_less);
      all.resize(static_cast<size_t>(std::min(k, blocks * cols)));
      for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(results[0][i].index, all[i].index);
    }
  }
}

TEST(KnnSimd, ScalarScanKeepsTheSmallestByValueThenIndex) {
  const float ip[6] = {0.5f, 0.25f, 0.5f, 0.0f, 0.25f, 1.0f};
  const float bn[6] = {1.0f, 0.5f, 1.0f, 1.0f, 0.5f, 1.0f};  // values 0, 0, 0, 1, 0, -1
  const auto got = run_scan(*kernels_for("scalar"), ip, bn, 6, 3, 1);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].index, 5);
  EXPECT_FLOAT_EQ(got[0].value, -1.0f);
  EXPECT_EQ(got[1].index, 0);
  EXPECT_EQ(got[2].index, 1);
}

TEST(KnnSimd, SqdistMatchesFloat64) {
  torch::manual_seed(22);
  for (int64_t d : {1, 7, 8, 31, 64, 100, 784, 3072}) {
    const torch::Tensor a = torch::rand({d}), b = torch::rand({d});
    double want = 0;
    for (int64_t i = 0; i < d; ++i) {
      const double x = double(a[i].item<float>()) - b[i].item<float>();
      want += x * x;
    }
    for (const char* isa : {"scalar", "avx2", "avx512"}) {
      const Kernels* kern = kernels_for(isa);
      if (kern == nullptr) continue;
      EXPECT_NEAR(kern->sqdist(a.data_ptr<float>(), b.data_ptr<float>(), d), want, 1e-6 * want + 1e-7)
          << isa << " d " << d;
    }
  }
  EXPECT_STRNE(kernels().isa, "");
}

}  // namespace
}  // namespace diffmem::search::detail
