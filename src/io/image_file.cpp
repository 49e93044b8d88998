#include "diffmem/io/image_file.h"

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"

namespace diffmem::io {
namespace fs = std::filesystem;

namespace {

struct Hwc {
  int h, w, c;
};

// Accepts U8 [H,W] (one channel) or [H,W,C] with C in 1..4, dims fitting stb's int sizes.
Hwc check_image(const HostArray& image, const std::string& where) {
  if (image.dtype != DType::kU8) fail(where, "a U8 image", dtype_name(image.dtype));
  if (image.shape.size() != 2 && image.shape.size() != 3)
    fail(where, "an image of shape [H,W] or [H,W,C]", shape_str(image.shape));
  int64_t h = image.shape[0], w = image.shape[1], c = image.shape.size() == 3 ? image.shape[2] : 1;
  if (h <= 0 || w <= 0 || c < 1 || c > 4 || h > (1 << 24) || w > (1 << 24))
    fail(where, "height and width in 1..2^24 and 1 to 4 channels", shape_str(image.shape));
  if (static_cast<uint64_t>(image.bytes.size()) != static_cast<uint64_t>(h * w * c))
    fail(where, std::to_string(h * w * c) + " bytes for " + shape_str(image.shape),
         std::to_string(image.bytes.size()));
  return {static_cast<int>(h), static_cast<int>(w), static_cast<int>(c)};
}

// stb_image 2.27 (Debian 12's) writes past its Huffman table when a JPEG's DHT segment declares
// more than 256 codes in one table (upstream checks it from 2.28 on; found by scripts/fuzz.sh once
// stb was built instrumented). Such a table is refused here before stb sees the file. Every FF C4
// is read as a DHT segment the way stb reads one (bytes past the end read as 0), wherever it
// stands, since stb resynchronizes on any 0xFF: entropy-coded data never holds FF C4 (byte
// stuffing), so a valid file is never refused.
void check_jpeg_huffman_tables(const std::string& b, const std::string& where) {
  auto byte = [&](size_t i) -> int { return i < b.size() ? static_cast<uint8_t>(b[i]) : 0; };
  // What stb takes for a JPEG: 0xFF, any number of 0xFF fill bytes, then the SOI marker D8.
  size_t soi = 1;
  while (soi < b.size() && byte(soi) == 0xFF) ++soi;
  if (byte(0) != 0xFF || byte(soi) != 0xD8) return;
  for (size_t i = soi + 1; i + 1 < b.size(); ++i) {
    if (byte(i) != 0xFF || byte(i + 1) != 0xC4) continue;
    int left = ((byte(i + 2) << 8) | byte(i + 3)) - 2;
    for (size_t p = i + 4; left > 0;) {
      if ((byte(p) >> 4) > 1 || (byte(p) & 15) > 3) break;  // stb refuses the table itself
      int codes = 0;
      for (int k = 1; k <= 16; ++k) codes += byte(p + k);
      if (codes > 256)
        fail(where, "a JPEG whose Huffman tables hold at most 256 codes each",
             std::to_string(codes) + " codes in the table at byte " + std::to_string(i));
      p += 17 + static_cast<size_t>(codes);
      left -= 17 + codes;
    }
  }
}

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
}

}  // namespace

HostArray read_image(const fs::path& path, int channels) {
  const std::string where = path.string();
  if (channels < 0 || channels > 4)
    fail(where, "channels 0 (keep), 1, 2, 3 or 4", std::to_string(channels));
  std::string bytes = core::read_file(path);
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    fail(where, "an image file below 2 GiB", std::to_string(bytes.size()) + " bytes");
  check_jpeg_huffman_tables(bytes, where);
  int w = 0, h = 0, file_c = 0;
  // The header's size first: a few hundred bytes can claim 30000 × 30000 pixels, which stb would
  // try to allocate (found by scripts/fuzz.sh).
  if (stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h,
                            &file_c) &&
      static_cast<int64_t>(w) * h > kMaxImagePixels)
    fail(where, "an image of at most " + std::to_string(kMaxImagePixels) + " pixels (" + std::to_string(kMaxImageSide) +
                    " x " + std::to_string(kMaxImageSide) + ")",
         std::to_string(w) + " x " + std::to_string(h));
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                            static_cast<int>(bytes.size()), &w, &h, &file_c, channels),
      stbi_image_free);
  if (!pixels) {
    const char* why = stbi_failure_reason();
    fail(where, "a decodable PNG/JPEG/BMP image",
         std::string("undecodable data (") + (why ? why : "unknown reason") + ")");
  }
  int c = channels == 0 ? file_c : channels;
  // stb can accept a header that claims no pixels at all (found by scripts/fuzz.sh): an image
  // with no rows, columns or channels is not one diffmem can use.
  if (w <= 0 || h <= 0 || c <= 0)
    fail(where, "an image with at least one pixel and channel",
         std::to_string(w) + " x " + std::to_string(h) + " x " + std::to_string(c));
  HostArray a = HostArray::zeros(DType::kU8, {h, w, c});
  std::memcpy(a.bytes.data(), pixels.get(), a.bytes.size());
  return a;
}

std::string encode_png(const HostArray& image) {
  Hwc s = check_image(image, "encode_png");
  std::string out;
  if (!stbi_write_png_to_func(append_bytes, &out, s.w, s.h, s.c, image.bytes.data(), s.w * s.c))
    fail("encode_png", "a PNG encoding of " + shape_str(image.shape), "stb failure");
  return out;
}

void write_png(const fs::path& path, const HostArray& image) {
  check_image(image, path.string());
  core::write_file_atomic(path, encode_png(image));
}

HostArray resize_image(const HostArray& image, int height, int width) {
  Hwc s = check_image(image, "resize_image");
  if (height <= 0 || width <= 0)
    fail("resize_image", "a positive target size", std::to_string(height) + "x" + std::to_string(width));
  std::vector<int64_t> shape = image.shape;
  shape[0] = height;
  shape[1] = width;
  HostArray out = HostArray::zeros(DType::kU8, shape);
  if (!stbir_resize_uint8(image.bytes.data(), s.w, s.h, 0, out.bytes.data(), width, height, 0, s.c))
    fail("resize_image", "a resize of " + shape_str(image.shape) + " to " + shape_str(shape),
         "stb failure");
  return out;
}

HostArray make_grid(const HostArray& images, int cols, int pad, uint8_t pad_value) {
  if (images.dtype != DType::kU8 || images.shape.size() != 4)
    fail("make_grid", "U8 images [N,H,W,C]", dtype_name(images.dtype) + " " + shape_str(images.shape));
  const int64_t n = images.shape[0], h = images.shape[1], w = images.shape[2], c = images.shape[3];
  if (n <= 0 || h <= 0 || w <= 0 || c <= 0)
    fail("make_grid", "at least one non-empty image", shape_str(images.shape));
  if (cols <= 0 || pad < 0)
    fail("make_grid", "cols > 0 and pad >= 0",
         "cols " + std::to_string(cols) + ", pad " + std::to_string(pad));
  if (images.bytes.size() != static_cast<size_t>(n * h * w * c))
    fail("make_grid", std::to_string(n * h * w * c) + " bytes", std::to_string(images.bytes.size()));
  const int64_t ncol = std::min<int64_t>(cols, n), nrow = (n + ncol - 1) / ncol;
  const int64_t gh = nrow * (h + pad) + pad, gw = ncol * (w + pad) + pad;
  HostArray grid = HostArray::zeros(DType::kU8, {gh, gw, c});
  std::memset(grid.bytes.data(), pad_value, grid.bytes.size());
  const uint8_t* src = images.data<uint8_t>();
  uint8_t* dst = grid.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y0 = pad + (i / ncol) * (h + pad), x0 = pad + (i % ncol) * (w + pad);
    for (int64_t y = 0; y < h; ++y)
      std::memcpy(dst + ((y0 + y) * gw + x0) * c, src + ((i * h + y) * w) * c, w * c);
  }
  return grid;
}

}  // namespace diffmem::io
