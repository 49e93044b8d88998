// The inpainting attacker's masks: each named mask hides exactly the pixels it names (checked
// against a pixel-by-pixel rule on even and odd sizes), and mask files follow white = hidden.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffmem/attack/inpaint_mask.h"
#include "diffmem/core/error.h"
#include "diffmem/io/image_file.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {

// The rule of inpaint_mask.h for one pixel, written out independently.
bool hidden_by_name(const std::string& name, int64_t y, int64_t x, int64_t H, int64_t W) {
  if (name == "left") return x < W / 2;
  if (name == "right") return x >= W - W / 2;
  if (name == "top") return y < H / 2;
  if (name == "bottom") return y >= H - H / 2;
  const int64_t h = H / 2, w = W / 2, r0 = (H - h) / 2, c0 = (W - w) / 2;
  return y >= r0 && y < r0 + h && x >= c0 && x < c0 + w;
}

}  // namespace

TEST(InpaintMask, NamedMasksHideExactlyTheirRegion) {
  for (auto [H, W] : {std::pair<int64_t, int64_t>{28, 28}, {32, 32}, {7, 9}}) {
    for (const auto& name : mask_names()) {
      SCOPED_TRACE(name + " " + std::to_string(H) + "x" + std::to_string(W));
      InpaintMask m = make_mask(name, H, W);
      ASSERT_EQ(m.known.sizes(), (std::vector<int64_t>{1, 1, H, W}));
      int64_t hidden = 0;
      auto k = m.known.accessor<float, 4>();
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const bool h = hidden_by_name(name, y, x, H, W);
          hidden += h;
          ASSERT_EQ(k[0][0][y][x], h ? 0.0f : 1.0f) << "pixel " << y << "," << x;
        }
      EXPECT_EQ(m.hidden_pixels, hidden);
      EXPECT_EQ(m.known_pixels, H * W - hidden);
      EXPECT_EQ(m.spec, name);
    }
  }
}

// Hand-counted: halves of 28×28 hide 392 pixels; the centre square of 28×28 is rows and columns
// 7..20 (196 pixels); odd 7×9 halves take the floor (left: 4 columns, top: 3 rows).
TEST(InpaintMask, HandCountedPixels) {
  for (auto name : {"left", "right", "top", "bottom"}) EXPECT_EQ(make_mask(name, 28, 28).hidden_pixels, 392);
  auto c = make_mask("center", 28, 28);
  EXPECT_EQ(c.hidden_pixels, 196);
  EXPECT_EQ(c.known[0][0][7][7].item<float>(), 0.0f);
  EXPECT_EQ(c.known[0][0][20][20].item<float>(), 0.0f);
  EXPECT_EQ(c.known[0][0][6][7].item<float>(), 1.0f);
  EXPECT_EQ(c.known[0][0][21][20].item<float>(), 1.0f);
  EXPECT_EQ(make_mask("left", 7, 9).hidden_pixels, 7 * 4);
  EXPECT_EQ(make_mask("right", 7, 9).known[0][0][0][4].item<float>(), 1.0f);
  EXPECT_EQ(make_mask("right", 7, 9).known[0][0][0][5].item<float>(), 0.0f);
  EXPECT_EQ(make_mask("top", 7, 9).hidden_pixels, 3 * 9);
  EXPECT_EQ(make_mask("center", 7, 9).hidden_pixels, 3 * 4);
  // Left and right are complements on even widths, top and bottom likewise.
  EXPECT_TRUE(torch::equal(make_mask("left", 8, 8).known, 1 - make_mask("right", 8, 8).known));
  EXPECT_TRUE(torch::equal(make_mask("top", 8, 8).known, 1 - make_mask("bottom", 8, 8).known));
}

TEST(InpaintMask, FileWhiteIsHiddenBlackIsKnown) {
  test::TempDir tmp;
  io::HostArray img = io::HostArray::zeros(io::DType::kU8, {6, 5, 1});
  uint8_t* p = img.data<uint8_t>();
  p[0] = 255;          // (0,0) hidden
  p[1 * 5 + 2] = 128;  // (1,2) hidden: the threshold is 128
  p[2 * 5 + 3] = 127;  // (2,3) known
  p[5 * 5 + 4] = 200;  // (5,4) hidden
  io::write_png(tmp / "m.png", img);
  InpaintMask m = make_mask((tmp / "m.png").string(), 6, 5);
  EXPECT_EQ(m.hidden_pixels, 3);
  EXPECT_EQ(m.known_pixels, 27);
  auto k = m.known[0][0];
  EXPECT_EQ(k[0][0].item<float>(), 0.0f);
  EXPECT_EQ(k[1][2].item<float>(), 0.0f);
  EXPECT_EQ(k[2][3].item<float>(), 1.0f);
  EXPECT_EQ(k[5][4].item<float>(), 0.0f);
  EXPECT_EQ(k[3][3].item<float>(), 1.0f);

  // An RGB file is read as gray: white hidden, black known.
  io::HostArray rgb = io::HostArray::zeros(io::DType::kU8, {4, 4, 3});
  for (int c = 0; c < 3; ++c) rgb.data<uint8_t>()[(1 * 4 + 1) * 3 + c] = 255;
  io::write_png(tmp / "rgb.png", rgb);
  InpaintMask m3 = make_mask((tmp / "rgb.png").string(), 4, 4);
  EXPECT_EQ(m3.hidden_pixels, 1);
  EXPECT_EQ(m3.known[0][0][1][1].item<float>(), 0.0f);

  // The left-half mask drawn as a file is the left-half mask.
  io::HostArray half = io::HostArray::zeros(io::DType::kU8, {8, 8, 1});
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 4; ++x) half.data<uint8_t>()[y * 8 + x] = 255;
  io::write_png(tmp / "half.png", half);
  EXPECT_TRUE(torch::equal(make_mask((tmp / "half.png").string(), 8, 8).known,
                           make_mask("left", 8, 8).known));
}

TEST(InpaintMask, BadMasksNameTheCulprit) {
  test::TempDir tmp;
  auto msg = test::error_of([] { make_mask("diagonal", 8, 8); });
  EXPECT_NE(msg.find("--mask"), std::string::npos) << msg;
  EXPECT_NE(msg.find("diagonal"), std::string::npos) << msg;

  io::write_png(tmp / "small.png", io::HostArray::zeros(io::DType::kU8, {4, 4, 1}));
  msg = test::error_of([&] { make_mask((tmp / "small.png").string(), 8, 8); });
  EXPECT_NE(msg.find("small.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("8x8"), std::string::npos) << msg;

  // All black: nothing to inpaint.
  msg = test::error_of([&] { make_mask((tmp / "small.png").string(), 4, 4); });
  EXPECT_NE(msg.find("small.png"), std::string::npos) << msg;

  test::write_bytes(tmp / "broken.png", std::string("\x89PNG\r\n\x1a\n garbage", 17));
  msg = test::error_of([&] { make_mask((tmp / "broken.png").string(), 8, 8); });
  EXPECT_NE(msg.find("broken.png"), std::string::npos) << msg;
}

}  // namespace diffmem::attack
