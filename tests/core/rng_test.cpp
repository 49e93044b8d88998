#include "diffmem/core/rng.h"

#include <gtest/gtest.h>

#include <set>

using namespace diffmem::core;

TEST(Rng, SameSeedSameStreamDifferentSeedDifferent) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    EXPECT_NE(x, c.next_u64());
  }
}

TEST(Rng, DeriveSeedSeparatesStreams) {
  std::set<uint64_t> seen;
  for (uint64_t s = 0; s < 1000; ++s) seen.insert(derive_seed(7, s));
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_NE(derive_seed(1, 2), derive_seed(2, 1));
}

TEST(Rng, BelowIsInRangeAndRoughlyUniform) {
  Rng r(1);
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 100000; ++i) {
    uint64_t x = r.below(10);
    ASSERT_LT(x, 10u);
    counts[x]++;
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(Rng, SampleWithoutReplacementIsDistinct) {
  auto v = sample_without_replacement(100, 30, 5);
  ASSERT_EQ(v.size(), 30u);
  std::set<int64_t> s(v.begin(), v.end());
  EXPECT_EQ(s.size(), 30u);
  for (auto x : v) EXPECT_TRUE(x >= 0 && x < 100);
  EXPECT_EQ(v, sample_without_replacement(100, 30, 5));
  EXPECT_NE(v, sample_without_replacement(100, 30, 6));
}
