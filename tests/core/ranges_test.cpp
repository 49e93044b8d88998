#include "diffmem/core/ranges.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "diffmem/core/error.h"
#include "test_support.h"

using namespace diffmem;

TEST(Ranges, IntegersOutsideTheirRangeNameTheKey) {
  core::check_at_least("flags", "steps (--steps)", 1, 1);
  EXPECT_EQ(test::error_of([] { core::check_at_least("flags", "steps (--steps)", 0, 1); }),
            "flags: steps (--steps): expected an integer >= 1, found 0");
  core::check_between("w", "n", 5, 1, 5);
  EXPECT_EQ(test::error_of([] { core::check_between("w", "n", 6, 1, 5); }),
            "w: n: expected an integer in [1, 5], found 6");
}

TEST(Ranges, RealsRefuseNaNInfinityAndOpenEnds) {
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  core::check_in("w", "lr", 1e-4, core::positive());
  EXPECT_EQ(test::error_of([] { core::check_in("w", "lr", 0, core::positive()); }),
            "w: lr: expected a number > 0 (finite), found 0");
  EXPECT_NE(test::error_of([&] { core::check_in("w", "grad_clip", nan, core::non_negative()); }).find("found nan"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { core::check_in("w", "x", inf, core::non_negative()); }), "");
  core::check_in("w", "ema", 0.999, core::unit_half_open());
  EXPECT_EQ(test::error_of([] { core::check_in("w", "ema", 1, core::unit_half_open()); }),
            "w: ema: expected a number in [0, 1), found 1");
  core::check_in("w", "p", 1, core::unit_closed());
  EXPECT_NE(test::error_of([] { core::check_in("w", "p", -0.5, core::unit_closed()); }), "");
}

TEST(Ranges, TheModelMemoryLimitIsPositive) {
  const double before = core::model_memory_limit_gib();
  EXPECT_NE(test::error_of([] { core::set_model_memory_limit_gib(-1); }).find("--max-memory"), std::string::npos);
  EXPECT_EQ(core::model_memory_limit_gib(), before);
  core::set_model_memory_limit_gib(2);
  EXPECT_EQ(core::model_memory_limit_gib(), 2);
  core::set_model_memory_limit_gib(before);
}
