#pragma once
// IDX files (MNIST, Fashion-MNIST): big-endian magic 00 00 08 NDIM, NDIM u32 sizes, then u8 data.
// Plain or gzip-compressed (".gz").
#include <filesystem>

#include "diffmem/io/array.h"

namespace diffmem::io {

/// Reads an IDX file of unsigned bytes (type 0x08): images [N,H,W] or labels [N], dtype U8.
HostArray read_idx(const std::filesystem::path& path);

}  // namespace diffmem::io
