#include "diffmem/core/memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using namespace diffmem;

#if defined(__SANITIZE_ADDRESS__)
#define DIFFMEM_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DIFFMEM_TEST_ASAN 1
#endif
#endif
#ifndef DIFFMEM_TEST_ASAN
#define DIFFMEM_TEST_ASAN 0
#endif

// Touching 200 MB raises the peak by about that much; after a reset (where Linux allows one) the
// peak falls back to the current size once the memory is freed.
TEST(Memory, PeakFollowsAnAllocationAndResets) {
  const int64_t before = core::peak_rss_bytes();
  ASSERT_GT(before, 0);
  {
    std::vector<char> big(200 << 20);
    std::memset(big.data(), 1, big.size());
    EXPECT_GE(core::peak_rss_bytes(), int64_t(190) << 20);
  }
  core::PeakMemory stage;
#if DIFFMEM_TEST_ASAN
  GTEST_SKIP() << "AddressSanitizer keeps freed memory resident (quarantine)";
#endif
  if (stage.since_stage_start()) {
    std::vector<char> small(8 << 20);
    std::memset(small.data(), 1, small.size());
    // The stage's own peak: far below the 200 MB the process touched before it.
    EXPECT_LT(stage.peak(), core::peak_rss_bytes() + 1);
    EXPECT_LT(stage.peak() - before, int64_t(150) << 20);
  }
}
