#pragma once
// safetensors files: u64 header length, JSON header, raw little-endian data. The reader checks the
// header bound (100 MB), that offsets are contiguous, start at 0 and end at the file size, and that
// each tensor's byte length equals product(shape) × dtype size; `__metadata__` is kept.
#include <filesystem>
#include <map>
#include <string>

#include "diffmem/io/array.h"

namespace diffmem::io {

struct Safetensors {
  std::map<std::string, std::string> metadata;  // "__metadata__" (e.g. {"format": "pt"})
  std::map<std::string, HostArray> tensors;     // by name
};

Safetensors read_safetensors(const std::filesystem::path& path);

/// Writes through temp file + rename; header padded with spaces to a multiple of 8 bytes.
void write_safetensors(const std::filesystem::path& path, const Safetensors& file);

}  // namespace diffmem::io
