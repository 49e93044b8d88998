// The integer Gram kernel against a brute-force int64 product: random bytes, the extremes (all 0,
// all 255, the 255 × 0 pattern that saturates 16-bit pair sums) and K at the chunk edges.
#include "diffmem/search/int_gram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "diffmem/core/error.h"

namespace diffmem::search {
namespace {

#define SKIP_WITHOUT_KERNEL()                                                      \
  if (!int_gram_kernel().available) GTEST_SKIP() << int_gram_kernel().reason

std::vector<int64_t> brute(const std::vector<uint8_t>& a, int64_t m, const std::vector<uint8_t>& b,
                           int64_t n, int64_t k) {
  std::vector<int64_t> c(static_cast<size_t>(m * n), 0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t t = 0; t < k; ++t) s += int64_t(a[size_t(i * k + t)]) * b[size_t(j * k + t)];
      c[size_t(i * n + j)] = s;
    }
  }
  return c;
}

std::vector<uint8_t> bytes(int64_t count, std::mt19937& rng, int pattern) {
  std::vector<uint8_t> v(static_cast<size_t>(count));
  for (auto& x : v) {
    switch (pattern) {
      case 0: x = static_cast<uint8_t>(rng() & 255); break;
      case 1: x = 0; break;
      case 2: x = 255; break;
      default: x = (rng() & 1) ? 255 : 0; break;
    }
  }
  return v;
}

TEST(IntGram, KernelIsNamedEitherWay) {
  const IntGramKernel& k = int_gram_kernel();
  if (k.available) {
    EXPECT_TRUE(k.name.find("amx") != std::string::npos || k.name.find("vnni") != std::string::npos)
        << k.name;
    EXPECT_TRUE(k.reason.empty());
  } else {
    EXPECT_FALSE(k.reason.empty());
    EXPECT_THROW(PackedU8Rows(std::vector<uint8_t>(4).data(), 2, 2, 2), Error);
  }
}

TEST(IntGram, EqualsBruteForceOnRandomAndExtremeBytes) {
  SKIP_WITHOUT_KERNEL();
  std::mt19937 rng(3);
  for (int64_t k : {1, 3, 63, 64, 65, 784, 3072}) {
    for (int pa = 0; pa < 4; ++pa) {
      for (int pb = 0; pb < 4; ++pb) {
        const int64_t m = 7, n = 19;
        const auto a = bytes(m * k, rng, pa), b = bytes(n * k, rng, pb);
        const PackedU8Rows packed(b.data(), n, k, k);
        std::vector<int64_t> got(static_cast<size_t>(m * n));
        packed.gram(a.data(), m, k, got.data(), n);
        EXPECT_EQ(got, brute(a, m, b, n, k)) << "k " << k << " patterns " << pa << pb;
        // The shifted int32 product is the same thing less 128 Σa.
        std::vector<int32_t> shifted(static_cast<size_t>(m * n));
        packed.gram_shifted(a.data(), m, k, shifted.data(), n);
        for (int64_t i = 0; i < m; ++i) {
          const int64_t s = row_sums(a.data() + i * k, k).sum;
          for (int64_t j = 0; j < n; ++j) {
            ASSERT_EQ(int64_t(shifted[size_t(i * n + j)]) + 128 * s, got[size_t(i * n + j)]);
          }
        }
      }
    }
  }
}

TEST(IntGram, LongRowsAtTheInt32EdgeAndPastIt) {
  SKIP_WITHOUT_KERNEL();
  std::mt19937 rng(4);
  // 255 · (0 − 128) · 65,536 is the most negative int32 product one chunk can hold; 255 · 255 ·
  // 65,537 needs int64 and a second chunk.
  for (int64_t k : {kIntGramMaxK, kIntGramMaxK + 1, 2 * kIntGramMaxK + 5}) {
    const int64_t m = 2, n = 3;
    auto a = bytes(m * k, rng, 2);
    auto b = bytes(n * k, rng, 1);
    for (int64_t t = 0; t < k; ++t) b[size_t(2 * k + t)] = 255;           // row 2: all 255
    for (int64_t t = 0; t < k; ++t) b[size_t(k + t)] = uint8_t(rng() & 255);  // row 1: random
    const PackedU8Rows packed(b.data(), n, k, k);
    std::vector<int64_t> got(static_cast<size_t>(m * n));
    packed.gram(a.data(), m, k, got.data(), n);
    EXPECT_EQ(got, brute(a, m, b, n, k)) << "k " << k;
    EXPECT_EQ(got[2], 65025 * k);
    if (k > kIntGramMaxK) {
      std::vector<int32_t> s(static_cast<size_t>(m * n));
      EXPECT_THROW(packed.gram_shifted(a.data(), m, k, s.data(), n), Error);
    }
  }
}

TEST(IntGram, StridedOperandsAndConcurrentProducts) {
  SKIP_WITHOUT_KERNEL();
  std::mt19937 rng(5);
  const int64_t k = 100, ld = 128, m = 33, n = 41;
  const auto a = bytes(m * ld, rng, 0), b = bytes(n * ld, rng, 0);
  std::vector<uint8_t> ac(size_t(m * k)), bc(size_t(n * k));
  for (int64_t i = 0; i < m; ++i) std::copy_n(a.begin() + i * ld, k, ac.begin() + i * k);
  for (int64_t i = 0; i < n; ++i) std::copy_n(b.begin() + i * ld, k, bc.begin() + i * k);
  const std::vector<int64_t> want = brute(ac, m, bc, n, k);
  const PackedU8Rows packed(b.data(), n, k, ld);
  EXPECT_EQ(packed.rows(), n);
  EXPECT_EQ(packed.dim(), k);
  EXPECT_GE(packed.bytes(), n * k);
  // Output with a wider leading dimension, from several threads at once.
  std::vector<std::vector<int64_t>> outs(4, std::vector<int64_t>(size_t(m * (n + 3)), -1));
  std::vector<std::thread> threads;
  for (auto& o : outs) {
    threads.emplace_back([&] { packed.gram(a.data(), m, ld, o.data(), n + 3); });
  }
  for (auto& t : threads) t.join();
  for (const auto& o : outs) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) ASSERT_EQ(o[size_t(i * (n + 3) + j)], want[size_t(i * n + j)]);
      EXPECT_EQ(o[size_t(i * (n + 3) + n)], -1);  // the padding is left alone
    }
  }
}

TEST(IntGram, RowSumsAreExact) {
  std::vector<uint8_t> v(100000, 255);
  const RowSums s = row_sums(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_EQ(s.sum, 255LL * 100000);
  EXPECT_EQ(s.squares, 65025LL * 100000);
}

}  // namespace
}  // namespace diffmem::search
