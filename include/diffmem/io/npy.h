#pragma once
// NumPy .npy files (format v1.0 and v2.0, C order, little-endian): uint8, int64, float32 and the
// other dtypes of io::DType. What diffmem writes numpy opens, and the other way round.
#include <filesystem>

#include "diffmem/io/array.h"

namespace diffmem::io {

struct NpyHeader {
  DType dtype = DType::kU8;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes from the start of the file to the first element
};

/// Reads and validates only the header (cheap; used to count shards without loading them).
/// Throws diffmem::Error naming the file on a bad magic, an unsupported dtype, Fortran order, or a
/// file whose size does not match the header.
NpyHeader read_npy_header(const std::filesystem::path& path);

/// Reads the whole array.
HostArray read_npy(const std::filesystem::path& path);

/// Reads rows [first, first + count) of the leading axis only (shape [count, ...]), without the
/// rest of the file. Throws diffmem::Error naming the file on a 0-d array or a range past the end.
HostArray read_npy_rows(const std::filesystem::path& path, int64_t first, int64_t count);

/// Reads the given rows of the leading axis, in the order given (repeats allowed), opening the
/// file once. Throws diffmem::Error naming the file on a 0-d array or a row out of range.
HostArray read_npy_rows(const std::filesystem::path& path, const std::vector<int64_t>& rows);

/// Writes through temp file + rename; version 1.0 when the header fits, else 2.0.
void write_npy(const std::filesystem::path& path, const HostArray& array);

/// As write_npy, but with at least format version `min_major` (1 or 2): 2 forces a v2.0 header,
/// which numpy also opens (tests use it; so could files meant for very old readers, with 1).
void write_npy(const std::filesystem::path& path, const HostArray& array, int min_major);

/// The numpy `descr` of a dtype ("|u1", "<f4", ...); fails for BF16, which numpy lacks.
std::string npy_descr(DType dtype);

}  // namespace diffmem::io
