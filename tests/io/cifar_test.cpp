#include "diffmem/io/cifar.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::io {
namespace {

using test::TempDir;

// Pixel value of record r, plane (channel) c, row y, column x in the synthetic file.
uint8_t pix(int r, int c, int y, int x) { return static_cast<uint8_t>(r * 7 + c * 50 + y * 3 + x * 5); }

std::string record(int r, uint8_t label) {
  std::string s(1, static_cast<char>(label));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) s += static_cast<char>(pix(r, c, y, x));
  return s;
}

// The error reading `p` raises ("" and a test failure when it reads fine).
std::string cifar_error(const std::filesystem::path& p) {
  return test::error_of([&] { read_cifar_batch(p); });
}

TEST(Cifar, ConvertsPlanesToHwc) {
  TempDir dir;
  std::string file = record(0, 3) + record(1, 9);
  ASSERT_EQ(file.size(), 2u * 3073u);
  test::write_bytes(dir / "data_batch_1.bin", file);
  CifarBatch b = read_cifar_batch(dir / "data_batch_1.bin");
  ASSERT_EQ(b.images.dtype, DType::kU8);
  ASSERT_EQ(b.images.shape, (std::vector<int64_t>{2, 32, 32, 3}));
  EXPECT_EQ(b.labels, (std::vector<int64_t>{3, 9}));
  const uint8_t* p = b.images.data<uint8_t>();
  int mismatches = 0;
  for (int r = 0; r < 2; ++r)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x)
        for (int c = 0; c < 3; ++c)
          mismatches += p[((r * 32 + y) * 32 + x) * 3 + c] != pix(r, c, y, x);
  EXPECT_EQ(mismatches, 0);
  // One pixel by hand: record 1, row 2, column 1, blue = 7 + 100 + 6 + 5.
  EXPECT_EQ(p[((1 * 32 + 2) * 32 + 1) * 3 + 2], 118);
}

TEST(Cifar, BadFilesFailNamingFileAndSize) {
  TempDir dir;
  test::write_bytes(dir / "short.bin", record(0, 1) + record(1, 2).substr(0, 100));
  std::string msg = cifar_error(dir / "short.bin");
  EXPECT_NE(msg.find((dir / "short.bin").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("3173"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3073"), std::string::npos) << msg;

  test::write_bytes(dir / "empty.bin", "");
  msg = cifar_error(dir / "empty.bin");
  EXPECT_NE(msg.find("empty.bin"), std::string::npos) << msg;

  test::write_bytes(dir / "label.bin", record(0, 1) + record(1, 10));
  msg = cifar_error(dir / "label.bin");
  EXPECT_NE(msg.find("label.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 10 in record 1"), std::string::npos) << msg;

  msg = cifar_error(dir / "missing.bin");
  EXPECT_NE(msg.find("missing.bin"), std::string::npos) << msg;
}

}  // namespace
}  // namespace diffmem::io
