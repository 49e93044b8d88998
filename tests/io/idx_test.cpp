#include "diffmem/io/idx.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::io {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data,
                      unsigned char type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((d >> shift) & 0xFF);
  return s + data;
}

void write_gz(const fs::path& p, const std::string& bytes) {
  gzFile g = gzopen(p.c_str(), "wb");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(gzwrite(g, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(g), Z_OK);
}

// The error reading `p` raises ("" and a test failure when it reads fine).
std::string idx_error(const fs::path& p) { return test::error_of([&] { read_idx(p); }); }

std::string pixels(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + 7) % 256);
  return s;
}

TEST(Idx, ReadsRawAndGzipByMagicNotName) {
  TempDir dir;
  std::string data = pixels(3 * 4 * 5);
  std::string file = idx_bytes({3, 4, 5}, data);
  test::write_bytes(dir / "raw-idx3-ubyte", file);
  write_gz(dir / "images.gz", file);
  write_gz(dir / "gzip-without-extension", file);
  test::write_bytes(dir / "plain-named.gz", file);
  for (const char* name : {"raw-idx3-ubyte", "images.gz", "gzip-without-extension", "plain-named.gz"}) {
    HostArray a = read_idx(dir / name);
    EXPECT_EQ(a.dtype, DType::kU8) << name;
    EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 4, 5})) << name;
    EXPECT_EQ(std::string(a.bytes.begin(), a.bytes.end()), data) << name;
  }
  test::write_bytes(dir / "labels", idx_bytes({4}, std::string("\x01\x09\x00\x05", 4)));
  HostArray l = read_idx(dir / "labels");
  EXPECT_EQ(l.shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(l.bytes, (std::vector<uint8_t>{1, 9, 0, 5}));
}

TEST(Idx, BadFilesFailNamingFileExpectedAndFound) {
  TempDir dir;
  std::string good = idx_bytes({2, 3, 3}, pixels(18));  // 4 + 3*4 + 18 = 34 bytes
  struct Case {
    std::string name;
    std::string bytes;
    bool gz;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"truncated", good.substr(0, good.size() - 1), false, {"34 bytes", "33 bytes", "truncated"}},
      {"trailing", good + "x", false, {"34 bytes", "35 bytes", "trailing"}},
      {"truncated.gz", good.substr(0, good.size() - 1), true, {"18 data bytes", "found 17"}},
      {"trailing.gz", good + "x", true, {"trailing"}},
      {"dims_cut.gz", good.substr(0, 10), true, {"12 bytes of dimension sizes", "found 6"}},
      {"magic", "\x01\x02" + good.substr(2), false, {"00 00", "0x01 0x02"}},
      {"float", idx_bytes({2}, std::string(8, '\0'), 0x0D), false, {"0x08", "0x0D", "float"}},
      {"int.gz", idx_bytes({2}, std::string(8, '\0'), 0x0C), true, {"0x08", "0x0C"}},
      {"empty", "", false, {"4-byte IDX magic", "0 bytes"}},
      {"lying.gz", idx_bytes({0xFFFFFF, 0xFFFFFF}, pixels(100)), true, {"found 100"}},
  };
  for (const Case& c : cases) {
    fs::path p = dir / c.name;
    if (c.gz)
      write_gz(p, c.bytes);
    else
      test::write_bytes(p, c.bytes);
    std::string msg = idx_error(p);
    EXPECT_NE(msg.find(p.string()), std::string::npos) << c.name << ": " << msg;
    for (const std::string& n : c.needles)
      EXPECT_NE(msg.find(n), std::string::npos) << c.name << ": " << msg << " lacks " << n;
  }
}

TEST(Idx, CorruptGzipStreamIsAnError) {
  TempDir dir;
  std::string file = idx_bytes({50, 40}, pixels(2000));
  write_gz(dir / "ok.gz", file);
  std::string gz = test::read_bytes(dir / "ok.gz");
  test::write_bytes(dir / "cut.gz", gz.substr(0, gz.size() / 2));
  std::string msg = idx_error(dir / "cut.gz");
  EXPECT_NE(msg.find("cut.gz"), std::string::npos) << msg;
  std::string flipped = gz;
  for (size_t i = 20; i < 40; ++i) flipped[i] = static_cast<char>(flipped[i] ^ 0x5A);
  test::write_bytes(dir / "flipped.gz", flipped);
  msg = idx_error(dir / "flipped.gz");
  EXPECT_NE(msg.find("flipped.gz"), std::string::npos) << msg;
  EXPECT_EQ(read_idx(dir / "ok.gz").bytes.size(), 2000u);
}

// The real Fashion-MNIST training images (Debian's dataset-fashion-mnist), checked against an
// independent decompression by Python's zlib: same CRC-32 of the pixel bytes.
TEST(Idx, ReadsFashionMnist) {
  const fs::path dir = "/usr/share/datasets/fashion-mnist";
  const fs::path images = dir / "train-images-idx3-ubyte.gz";
  const fs::path labels = dir / "train-labels-idx1-ubyte.gz";
  if (!fs::exists(images) || !fs::exists(labels)) GTEST_SKIP() << "Fashion-MNIST not installed";
  HostArray a = read_idx(images);
  ASSERT_EQ(a.shape, (std::vector<int64_t>{60000, 28, 28}));
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t off = 0; off < a.bytes.size(); off += 1 << 20) {
    size_t n = std::min<size_t>(1 << 20, a.bytes.size() - off);
    crc = crc32(crc, a.bytes.data() + off, static_cast<uInt>(n));
  }

  HostArray l = read_idx(labels);
  ASSERT_EQ(l.shape, (std::vector<int64_t>{60000}));
  std::vector<int> counts(10, 0);
  for (uint8_t v : l.bytes) {
    ASSERT_LT(v, 10);
    ++counts[v];
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(counts[c], 6000) << "class " << c;  // balanced by design

  const std::string py = "/usr/bin/python3";
  if (!fs::exists(py)) GTEST_SKIP() << "no /usr/bin/python3 for the independent checksum";
  auto r = test::run_shell(py + " -c " + test::shell_quote(
      "import gzip, sys, zlib\n"
      "b = gzip.open(sys.argv[1]).read()\n"
      "print(len(b) - 16, zlib.crc32(b[16:]))\n") + " " + test::shell_quote(images.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, std::to_string(a.bytes.size()) + " " + std::to_string(crc) + "\n");
}

}  // namespace
}  // namespace diffmem::io
