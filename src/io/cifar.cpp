#include "diffmem/io/cifar.h"

#include "diffmem/core/error.h"
#include "io_util.h"

namespace diffmem::io {

namespace {
constexpr int64_t kSide = 32;
constexpr int64_t kPlane = kSide * kSide;
constexpr int64_t kRecord = 1 + 3 * kPlane;  // 3,073
}  // namespace

CifarBatch read_cifar_batch(const std::filesystem::path& path) {
  detail::InFile f(path);
  const std::string& where = f.name();
  if (f.size() == 0 || f.size() % kRecord != 0)
    fail(where, "a CIFAR-10 batch: a positive multiple of 3073 bytes",
         std::to_string(f.size()) + " bytes (" + std::to_string(f.size() / kRecord) +
             " records and " + std::to_string(f.size() % kRecord) + " bytes over)");
  const int64_t n = static_cast<int64_t>(f.size() / kRecord);
  std::vector<uint8_t> raw(f.size());
  f.read_at(0, raw.data(), raw.size(), "CIFAR records");

  CifarBatch b;
  b.images = HostArray::zeros(DType::kU8, {n, kSide, kSide, 3});
  b.labels.resize(n);
  uint8_t* out = b.images.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* rec = raw.data() + i * kRecord;
    if (rec[0] > 9)
      fail(where, "labels 0..9", "label " + std::to_string(rec[0]) + " in record " +
                                     std::to_string(i) + " (byte offset " +
                                     std::to_string(i * kRecord) + ")");
    b.labels[i] = rec[0];
    const uint8_t* planes = rec + 1;
    uint8_t* img = out + i * 3 * kPlane;
    for (int64_t p = 0; p < kPlane; ++p)
      for (int64_t c = 0; c < 3; ++c) img[p * 3 + c] = planes[c * kPlane + p];
  }
  return b;
}

}  // namespace diffmem::io
