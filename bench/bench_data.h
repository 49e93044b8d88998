#pragma once
// Synthetic data shared by the bench mains (bench_util.h stays free of diffmem and torch).
#include <cstdint>
#include <random>

#include "diffmem/data/dataset.h"

namespace bench {

/// n images of size×size×channels whose bytes are uniform noise (std::mt19937(seed) % 256, in
/// byte order), ids 0..n-1, labels 0. The cost of a forward pass does not depend on the pixels.
inline diffmem::data::Dataset random_u8_dataset(int64_t n, int64_t size, int64_t channels,
                                                uint32_t seed = 1) {
  diffmem::data::Dataset ds;
  ds.images = diffmem::io::HostArray::zeros(diffmem::io::DType::kU8, {n, size, size, channels});
  std::mt19937 rng(seed);
  for (auto& b : ds.images.bytes) b = static_cast<uint8_t>(rng() % 256);
  for (int64_t i = 0; i < n; ++i) {
    ds.ids.push_back(i);
    ds.labels.push_back(0);
  }
  return ds;
}

}  // namespace bench
