#include "image_ops.h"

#include <cstring>

#include "diffmem/core/error.h"
#include "diffmem/io/image_file.h"

namespace diffmem::data {

io::HostArray convert_channels(const io::HostArray& nhwc, int channels) {
  check(nhwc.shape.size() == 4, "convert_channels", "[N,H,W,C]", io::shape_str(nhwc.shape));
  const int64_t c = nhwc.shape[3];
  if (channels == 0 || channels == c) return nhwc;
  check((c == 1 && channels == 3) || (c == 3 && channels == 1), "convert_channels",
        "1 <-> 3 channels", std::to_string(c) + " -> " + std::to_string(channels));
  const int64_t pixels = nhwc.shape[0] * nhwc.shape[1] * nhwc.shape[2];
  io::HostArray out = io::HostArray::zeros(
      io::DType::kU8, {nhwc.shape[0], nhwc.shape[1], nhwc.shape[2], channels});
  const uint8_t* in = nhwc.bytes.data();
  uint8_t* o = out.bytes.data();
  if (channels == 3) {
    for (int64_t p = 0; p < pixels; ++p) o[3 * p] = o[3 * p + 1] = o[3 * p + 2] = in[p];
  } else {
    for (int64_t p = 0; p < pixels; ++p)
      o[p] = static_cast<uint8_t>((in[3 * p] * 77 + in[3 * p + 1] * 150 + in[3 * p + 2] * 29) >> 8);
  }
  return out;
}

static io::HostArray resize_all(const io::HostArray& nhwc, int size) {
  const int64_t n = nhwc.shape[0], h = nhwc.shape[1], w = nhwc.shape[2], c = nhwc.shape[3];
  if (size == 0 || (h == size && w == size)) return nhwc;
  io::HostArray out = io::HostArray::zeros(io::DType::kU8, {n, size, size, c});
  io::HostArray one = io::HostArray::zeros(io::DType::kU8, {h, w, c});
  const size_t in_bytes = one.bytes.size();
  const size_t out_bytes = static_cast<size_t>(size) * size * c;
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(one.bytes.data(), nhwc.bytes.data() + i * in_bytes, in_bytes);
    io::HostArray r = io::resize_image(one, size, size);
    std::memcpy(out.bytes.data() + i * out_bytes, r.bytes.data(), out_bytes);
  }
  return out;
}

io::HostArray adapt_images(const io::HostArray& nhwc, int channels, int size) {
  const bool reduce = channels != 0 && channels < nhwc.shape.at(3);
  if (reduce) return resize_all(convert_channels(nhwc, channels), size);
  return convert_channels(resize_all(nhwc, size), channels);
}

io::HostArray upscale_nearest(const io::HostArray& hwc, int factor) {
  if (factor <= 1) return hwc;
  const int64_t h = hwc.shape.at(0), w = hwc.shape.at(1);
  const int64_t c = hwc.shape.size() > 2 ? hwc.shape[2] : 1;
  io::HostArray out = io::HostArray::zeros(io::DType::kU8, {h * factor, w * factor, c});
  for (int64_t y = 0; y < h * factor; ++y)
    for (int64_t x = 0; x < w * factor; ++x)
      std::memcpy(&out.bytes[(y * w * factor + x) * c],
                  &hwc.bytes[((y / factor) * w + x / factor) * c], static_cast<size_t>(c));
  return out;
}

}  // namespace diffmem::data
