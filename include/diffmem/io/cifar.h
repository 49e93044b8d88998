#pragma once
// CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin): records of 1 label byte and 3,072
// pixel bytes (R, G, B planes of 32×32, row-major).
#include <filesystem>
#include <vector>

#include "diffmem/io/array.h"

namespace diffmem::io {

struct CifarBatch {
  HostArray images;             // U8 [N,32,32,3] (HWC, converted from the file's planes)
  std::vector<int64_t> labels;  // [N], 0..9
};

/// Reads one batch file; the size must be a whole number of 3,073-byte records.
CifarBatch read_cifar_batch(const std::filesystem::path& path);

}  // namespace diffmem::io
