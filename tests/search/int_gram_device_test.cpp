// The LibTorch integer products (int_gram_device.h) against an int64 brute force: shifted rows,
// their norms and Gram matrices on random and extreme bytes, row lengths that are not multiples of
// 8, few rows, and long rows past a single int32 product. On the CPU this is the float64 path; the
// _CUDA test compares the GPU's int8 path (or its float64 fallback) with it.
#include "diffmem/search/int_gram_device.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/core/error.h"

namespace diffmem::search {
namespace {

torch::Tensor brute_gram(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.to(torch::kLong).sub(128), y = b.to(torch::kLong).sub(128);
  return (x.unsqueeze(1) * y.unsqueeze(0)).sum(2);
}

torch::Tensor rows_of(int64_t n, int64_t d, int pattern, uint64_t seed) {
  torch::manual_seed(seed);
  switch (pattern) {
    case 0: return torch::randint(0, 256, {n, d}).to(torch::kByte);
    case 1: return torch::zeros({n, d}, torch::kByte);
    case 2: return torch::full({n, d}, 255, torch::kByte);
    default: return torch::randint(0, 2, {n, d}).mul_(255).to(torch::kByte);
  }
}

TEST(IntGramDevice, ShiftedRowsArePaddedAndExact) {
  const torch::Tensor r = torch::tensor({0, 1, 127, 128, 129, 255, 7, 9, 200}, torch::kByte).view({1, 9});
  const torch::Tensor s = shift_u8_rows(r);
  ASSERT_EQ(s.sizes().vec(), (std::vector<int64_t>{1, 16}));
  EXPECT_EQ(s.scalar_type(), torch::kChar);
  EXPECT_TRUE(torch::equal(s.narrow(1, 0, 9).to(torch::kLong), r.to(torch::kLong).sub(128)));
  EXPECT_EQ(s.narrow(1, 9, 7).abs().sum().item<int64_t>(), 0);
  EXPECT_EQ(shifted_norms(s).item<int64_t>(), r.to(torch::kLong).sub(128).pow(2).sum().item<int64_t>());
  EXPECT_THROW(shift_u8_rows(torch::zeros({2, 3})), Error);
  EXPECT_THROW(shifted_gram(s, shift_u8_rows(torch::zeros({2, 17}, torch::kByte))), Error);
}

TEST(IntGramDevice, GramEqualsBruteForceOnRandomAndExtremeBytes) {
  for (int pattern = 0; pattern < 4; ++pattern) {
    for (const auto& [m, n, d] : {std::tuple<int64_t, int64_t, int64_t>{3, 5, 7},
                                  {17, 9, 64}, {40, 33, 785}}) {
      const torch::Tensor a = rows_of(m, d, pattern, 10 + pattern);
      const torch::Tensor b = rows_of(n, d, (pattern + 1) % 4, 20 + pattern);
      const torch::Tensor g = shifted_gram(shift_u8_rows(a), shift_u8_rows(b));
      EXPECT_EQ(g.scalar_type(), torch::kLong);
      EXPECT_TRUE(torch::equal(g, brute_gram(a, b))) << "pattern " << pattern << " d " << d;
      EXPECT_TRUE(torch::equal(shifted_gram_f64(shift_u8_rows(a), shift_u8_rows(b)), g));
    }
  }
}

TEST(IntGramDevice, LongRowsPastOneInt32Product) {
  // 0 against 0 is 128² per value: 140,000 values sum to 2.29e9, past int32.
  const int64_t d = 140000;
  const torch::Tensor zeros = shift_u8_rows(torch::zeros({2, d}, torch::kByte));
  const torch::Tensor g = shifted_gram(zeros, zeros);
  EXPECT_EQ(g[0][1].item<int64_t>(), int64_t(16384) * d);
  const torch::Tensor mixed = rows_of(3, d, 3, 5);
  EXPECT_TRUE(torch::equal(shifted_gram(shift_u8_rows(mixed), zeros), brute_gram(mixed, torch::zeros({2, d}, torch::kByte))));
}

TEST(IntGramDevice, GpuProductsEqualTheCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA);
  for (int pattern = 0; pattern < 4; ++pattern) {
    for (const auto& [m, n, d] : {std::tuple<int64_t, int64_t, int64_t>{3, 5, 7},
                                  {17, 9, 64}, {300, 1000, 3072}, {20, 24, 140000}}) {
      const torch::Tensor a = shift_u8_rows(rows_of(m, d, pattern, 30 + pattern));
      const torch::Tensor b = shift_u8_rows(rows_of(n, d, (pattern + 2) % 4, 40 + pattern));
      const torch::Tensor gpu = shifted_gram(a.to(cuda), b.to(cuda));
      EXPECT_TRUE(gpu.is_cuda());
      EXPECT_TRUE(torch::equal(gpu.cpu(), shifted_gram_f64(a, b)))
          << device_int_gram_name(cuda) << ", pattern " << pattern << " d " << d;
      EXPECT_TRUE(torch::equal(shifted_norms(a.to(cuda)).cpu(), shifted_norms(a)));
    }
  }
}

}  // namespace
}  // namespace diffmem::search
