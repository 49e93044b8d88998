#include "diffmem/io/image_file.h"

#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <cmath>

#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::io {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

HostArray gradient(int h, int w, int c) {
  HostArray a = HostArray::zeros(DType::kU8, {h, w, c});
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        a.bytes[(y * w + x) * c + k] = static_cast<uint8_t>(y * 9 + x * 5 + k * 80);
  return a;
}

TEST(ImageFile, PngRoundTripsExactly) {
  TempDir dir;
  for (int c : {1, 3, 4}) {
    HostArray a = gradient(7, 11, c);
    fs::path p = dir / ("img" + std::to_string(c) + ".png");
    write_png(p, a);
    HostArray b = read_image(p);
    EXPECT_EQ(b.shape, a.shape) << c;
    EXPECT_EQ(b.bytes, a.bytes) << c;
  }
  // [H,W] is written as one channel and read back as [H,W,1].
  HostArray flat = gradient(5, 6, 1);
  flat.shape = {5, 6};
  write_png(dir / "flat.png", flat);
  HostArray back = read_image(dir / "flat.png");
  EXPECT_EQ(back.shape, (std::vector<int64_t>{5, 6, 1}));
  EXPECT_EQ(back.bytes, flat.bytes);
  // Nothing but the outputs is left in the directory (temp files renamed away).
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().extension(), ".png") << e.path();
    ++files;
  }
  EXPECT_EQ(files, 4);
}

TEST(ImageFile, ConvertsChannels) {
  TempDir dir;
  HostArray grey = gradient(4, 4, 1);
  write_png(dir / "grey.png", grey);
  HostArray rgb = read_image(dir / "grey.png", 3);
  ASSERT_EQ(rgb.shape, (std::vector<int64_t>{4, 4, 3}));
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 3; ++k) EXPECT_EQ(rgb.bytes[i * 3 + k], grey.bytes[i]);

  HostArray color = HostArray::zeros(DType::kU8, {1, 2, 3});
  color.bytes = {200, 100, 50, 0, 255, 0};
  write_png(dir / "color.png", color);
  HostArray y = read_image(dir / "color.png", 1);
  ASSERT_EQ(y.shape, (std::vector<int64_t>{1, 2, 1}));
  // stb's luma: (77 r + 150 g + 29 b) >> 8.
  EXPECT_EQ(y.bytes[0], (77 * 200 + 150 * 100 + 29 * 50) >> 8);
  EXPECT_EQ(y.bytes[1], (150 * 255) >> 8);
}

TEST(ImageFile, EncodePngGivesPngBytes) {
  std::string png = encode_png(gradient(3, 3, 3));
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  HostArray bad = HostArray::zeros(DType::kF32, {3, 3, 3});
  EXPECT_THROW(encode_png(bad), Error);
  EXPECT_THROW(encode_png(HostArray::zeros(DType::kU8, {3, 3, 5})), Error);
}

TEST(ImageFile, DecodesJpegApproximately) {
  TempDir dir;
  HostArray a = gradient(16, 24, 3);
  fs::path p = dir / "g.jpg";
  ASSERT_TRUE(stbi_write_jpg(p.c_str(), 24, 16, 3, a.bytes.data(), 95));
  HostArray b = read_image(p);
  ASSERT_EQ(b.shape, a.shape);
  double err = 0;
  for (size_t i = 0; i < a.bytes.size(); ++i) err += std::abs(int(a.bytes[i]) - int(b.bytes[i]));
  err /= static_cast<double>(a.bytes.size());
  EXPECT_LT(err, 4.0);
  EXPECT_GT(err, 0.0);  // it really went through a lossy codec
}

TEST(ImageFile, UndecodableFilesNameTheFile) {
  TempDir dir;
  test::write_bytes(dir / "junk.png", "this is not an image at all");
  try {
    read_image(dir / "junk.png");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find((dir / "junk.png").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("undecodable"), std::string::npos) << msg;
  }
  std::string png = encode_png(gradient(20, 20, 3));
  test::write_bytes(dir / "cut.png", png.substr(0, png.size() / 2));
  EXPECT_THROW(read_image(dir / "cut.png"), Error);
  EXPECT_THROW(read_image(dir / "missing.png"), Error);
}

// A JPEG whose frame header claims 30000 × 30000 pixels: refused from the header (stb would
// allocate 2.7 GB first, the fuzzer's out-of-memory input; stb's PNG reader refuses such sizes
// itself).
TEST(ImageFile, AHeaderClaimingTooManyPixelsIsRefusedBeforeDecoding) {
  TempDir dir;
  std::string jpg = test::read_bytes(fs::path(test::source_dir()) / "fuzz/corpus/image/small.jpg");
  const size_t sof = jpg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  const std::string side{char(30000 >> 8), char(30000 & 0xff)};
  jpg.replace(sof + 5, 4, side + side);  // marker, length (2), precision (1), then height, width
  test::write_bytes(dir / "huge.jpg", jpg);
  const std::string e = test::error_of([&] { read_image(dir / "huge.jpg"); });
  EXPECT_EQ(e, (dir / "huge.jpg").string() + ": expected an image of at most 67108864 pixels (8192 x 8192), found 30000 x 30000");
}

// A JPEG whose Huffman table declares 272 codes: stb_image 2.27 would write past its 257-entry
// table (found by scripts/fuzz.sh once stb was built instrumented); refused before stb runs, also
// behind 0xFF fill bytes before the SOI marker, which stb skips. A valid JPEG's tables pass.
TEST(ImageFile, AJpegHuffmanTableOfMoreThan256CodesIsRefused) {
  TempDir dir;
  const std::string jpg = test::read_bytes(fs::path(test::source_dir()) / "fuzz/corpus/image/small.jpg");
  const size_t dht = jpg.find("\xff\xc4");
  ASSERT_NE(dht, std::string::npos);
  test::write_bytes(dir / "ok.jpg", jpg);
  EXPECT_EQ(read_image(dir / "ok.jpg").shape.size(), 3u);
  std::string bad = jpg;
  bad.replace(dht + 5, 16, std::string(16, char(17)));  // marker, length (2), class/id (1), 16 counts
  for (const std::string& prefix : {std::string(), std::string("\xff")}) {
    test::write_bytes(dir / "bad.jpg", prefix + bad);
    const std::string e = test::error_of([&] { read_image(dir / "bad.jpg"); });
    EXPECT_NE(e.find((dir / "bad.jpg").string() + ": expected a JPEG whose Huffman tables hold at most 256 codes each, "
                     "found 272 codes"), std::string::npos) << e;
  }
}

// The fuzzer's JPEG whose scan decodes with a Huffman table no DHT segment defined: stb 2.27
// mallocs its decoder state and read up to 16 MB past the garbage table (ASan, in the fuzz target
// and in scripts/sanitize.sh); with stb's allocations zeroed (src/io/stb_impl.cpp) it is refused as
// corrupt, naming the file.
TEST(ImageFile, AJpegScanWithAnUndefinedHuffmanTableIsRefused) {
  const fs::path p = fs::path(test::source_dir()) / "fuzz/corpus/image/regression_jpeg_undefined_table";
  const std::string e = test::error_of([&] { read_image(p); });
  EXPECT_EQ(e.rfind(p.string() + ": expected a decodable PNG/JPEG/BMP image, found undecodable data", 0), 0u) << e;
}

TEST(ImageFile, ResizeKeepsChannelsAndConstants) {
  HostArray a = HostArray::zeros(DType::kU8, {8, 6, 3});
  for (size_t i = 0; i < a.bytes.size(); ++i) a.bytes[i] = i % 3 == 0 ? 40 : i % 3 == 1 ? 120 : 250;
  for (auto [h, w] : {std::pair{3, 5}, std::pair{16, 13}}) {
    HostArray r = resize_image(a, h, w);
    ASSERT_EQ(r.shape, (std::vector<int64_t>{h, w, 3}));
    for (size_t i = 0; i < r.bytes.size(); ++i)
      ASSERT_NEAR(r.bytes[i], a.bytes[i % 3], 1) << i;
  }
  // Halving a 2x2-block checkerboard averages nothing away: blocks map to pixels.
  HostArray c = HostArray::zeros(DType::kU8, {4, 4});
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) c.bytes[y * 4 + x] = ((y / 2 + x / 2) % 2) ? 200 : 10;
  HostArray half = resize_image(c, 2, 2);
  EXPECT_EQ(half.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_LT(half.bytes[0], half.bytes[1]);
  EXPECT_GT(half.bytes[2], half.bytes[3]);
  EXPECT_THROW(resize_image(a, 0, 4), Error);
}

TEST(ImageFile, GridTilesWithPadding) {
  const int n = 5, h = 2, w = 3, c = 1;
  HostArray imgs = HostArray::zeros(DType::kU8, {n, h, w, c});
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < h * w; ++p) imgs.bytes[i * h * w + p] = static_cast<uint8_t>(10 * i + p);
  HostArray g = make_grid(imgs, 3, 1, 255);
  ASSERT_EQ(g.shape, (std::vector<int64_t>{2 * (h + 1) + 1, 3 * (w + 1) + 1, 1}));
  const int gw = 13;
  auto at = [&](int y, int x) { return g.bytes[y * gw + x]; };
  // Image 4 sits in row 1, column 1: top-left at (1 + 3, 1 + 4).
  EXPECT_EQ(at(4, 5), 40);
  EXPECT_EQ(at(5, 7), 45);
  EXPECT_EQ(at(1, 1), 0);   // image 0, pixel 0
  EXPECT_EQ(at(0, 0), 255);  // border
  EXPECT_EQ(at(3, 2), 255);  // between rows
  EXPECT_EQ(at(4, 9), 255);  // unused cell
  int image_pixels = 0;
  for (uint8_t v : g.bytes) image_pixels += v != 255;
  EXPECT_EQ(image_pixels, n * h * w);

  HostArray one = make_grid(imgs, 10, 0);
  EXPECT_EQ(one.shape, (std::vector<int64_t>{h, n * w, 1}));
  EXPECT_THROW(make_grid(imgs, 0), Error);
  EXPECT_THROW(make_grid(HostArray::zeros(DType::kU8, {2, 2, 2}), 2), Error);
}

}  // namespace
}  // namespace diffmem::io
