#pragma once
// Image files through stb: PNG/JPEG in, PNG out (files, or bytes to embed in an HTML report).
#include <cstdint>
#include <filesystem>
#include <string>

#include "diffmem/io/array.h"

namespace diffmem::io {

/// The most pixels read_image decodes (8192 × 8192); a larger header is refused before decoding.
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
inline constexpr int64_t kMaxImageSide = 8192;
#else
// Fuzzing (scripts/fuzz.sh): the same checks and decoders at a smaller cap, so that inputs that
// decode to 8192 x 8192 pixels do not bring the executions per second from thousands to ~200.
inline constexpr int64_t kMaxImageSide = 1024;
#endif
inline constexpr int64_t kMaxImagePixels = kMaxImageSide * kMaxImageSide;

/// Decodes a PNG/JPEG/BMP file to U8 [H,W,C]; channels = 0 keeps the file's, 1 or 3 converts.
HostArray read_image(const std::filesystem::path& path, int channels = 0);

/// Encodes U8 [H,W,C] (C = 1, 3 or 4) or [H,W] as PNG bytes.
std::string encode_png(const HostArray& image);

/// Writes U8 [H,W,C] or [H,W] as a PNG through temp file + rename.
void write_png(const std::filesystem::path& path, const HostArray& image);

/// Resizes U8 [H,W,C] to [h,w,C] (stb's default filter: Mitchell when shrinking, cubic when growing).
HostArray resize_image(const HostArray& image, int height, int width);

/// Tiles U8 [N,H,W,C] images into one [rows*(H+pad) + pad, cols*(W+pad) + pad, C] grid, `cols`
/// per row (fewer when N < cols), rows = ceil(N / cols), `pad` pixels of `pad_value` between and
/// around tiles; unused cells are pad_value too.
HostArray make_grid(const HostArray& images, int cols, int pad = 2, uint8_t pad_value = 255);

}  // namespace diffmem::io
