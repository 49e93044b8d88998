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
