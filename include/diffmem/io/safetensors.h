#pragma once
// safetensors files: u64 header length, JSON header, raw little-endian data. The reader checks the
// header bound (100 MB), that offsets are contiguous, start at 0 and end at the file size, and that
// each tensor's byte length equals product(shape) × dtype size; `__metadata__` is kept.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "diffmem/io/array.h"

namespace diffmem::io {

/// One tensor's entry in a safetensors header.
struct SafetensorsEntry {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets inside the data section
};

/// A checked header without the data: names, dtypes and shapes of what a weights file holds.
struct SafetensorsHeader {
  std::map<std::string, std::string> metadata;
  std::map<std::string, SafetensorsEntry> tensors;  // by name
  uint64_t data_start = 0;                          // file offset of the data section
  /// Elements over all tensors.
  int64_t parameters() const;
};

/// Reads and checks the header only (the same checks as read_safetensors, which uses it).
SafetensorsHeader read_safetensors_header(const std::filesystem::path& path);

struct Safetensors {
  std::map<std::string, std::string> metadata;  // "__metadata__" (e.g. {"format": "pt"})
  std::map<std::string, HostArray> tensors;     // by name
};

Safetensors read_safetensors(const std::filesystem::path& path);

/// Writes through temp file + rename; header padded with spaces to a multiple of 8 bytes.
void write_safetensors(const std::filesystem::path& path, const Safetensors& file);

}  // namespace diffmem::io
