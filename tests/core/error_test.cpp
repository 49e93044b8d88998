#include "diffmem/core/error.h"

#include <gtest/gtest.h>

using namespace diffmem;

TEST(Error, OneLineEscapesControlBytesAndKeepsUtf8) {
  EXPECT_EQ(one_line("plain: expected a, found b"), "plain: expected a, found b");
  EXPECT_EQ(one_line("p.csv: header 'a\nb\tc\x1b[31m'\x7f"), "p.csv: header 'a\\nb\\tc\\x1b[31m'\\x7f");
  EXPECT_EQ(one_line(std::string("nul\0byte", 8)), "nul\\x00byte");
  EXPECT_EQ(one_line("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(one_line("torch says no\n"), "torch says no");  // a trailing newline is dropped
}
