#include "diffmem/io/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>

#include "diffmem/core/error.h"
#include "io_util.h"

namespace diffmem::io {
namespace fs = std::filesystem;

namespace {

// A byte stream over a plain or a gzip file. gzip is recognised by its magic bytes, not the name:
// a renamed ".gz" (or an un-gzipped file still called ".gz") reads the same.
class ByteSource {
 public:
  explicit ByteSource(const fs::path& path) : name_(path.string()) {
    detail::InFile probe(path);  // existence, directory and open errors, with the path
    unsigned char magic[2] = {0, 0};
    if (probe.size() >= 2) probe.read_at(0, magic, 2, "the gzip magic");
    gzip_ = magic[0] == 0x1f && magic[1] == 0x8b;
    if (gzip_) {
      gz_ = gzopen(path.c_str(), "rb");
      if (!gz_) fail(name_, std::string("cannot open: ") + std::strerror(errno));
    } else {
      f_ = std::fopen(path.c_str(), "rb");
      if (!f_) fail(name_, std::string("cannot open: ") + std::strerror(errno));
    }
  }
  ~ByteSource() {
    if (gz_) gzclose(gz_);
    if (f_) std::fclose(f_);
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  bool gzip() const { return gzip_; }

  /// Reads up to n bytes; fewer only at the end of the stream. Corrupt gzip data throws.
  size_t read(void* dst, size_t n) {
    auto* p = static_cast<unsigned char*>(dst);
    size_t total = 0;
    while (total < n) {
      size_t want = std::min<size_t>(n - total, size_t{1} << 30);
      size_t got;
      if (gzip_) {
        int r = gzread(gz_, p + total, static_cast<unsigned>(want));
        if (r < 0) gz_fail();
        got = static_cast<size_t>(r);
      } else {
        got = std::fread(p + total, 1, want, f_);
        if (got < want && std::ferror(f_))
          fail(name_, std::string("read error: ") + std::strerror(errno));
      }
      if (got == 0) break;
      total += got;
    }
    // zlib reports a cut-off stream as a clean end unless asked.
    if (gzip_ && total < n) {
      int err = Z_OK;
      gzerror(gz_, &err);
      if (err != Z_OK) gz_fail();
    }
    return total;
  }

 private:
  [[noreturn]] void gz_fail() {
    int err = Z_OK;
    const char* msg = gzerror(gz_, &err);
    fail(name_, "a valid gzip stream", std::string("zlib error (") + (msg ? msg : "?") + ")");
  }

  std::string name_;
  bool gzip_ = false;
  gzFile gz_ = nullptr;
  std::FILE* f_ = nullptr;
};

const char* idx_type_name(int t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return "unknown";
  }
}

std::string hex(int v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", v);
  return buf;
}

}  // namespace

HostArray read_idx(const fs::path& path) {
  ByteSource src(path);
  const std::string where = path.string();
  const std::string layer = src.gzip() ? " (after gunzip)" : "";
  unsigned char magic[4];
  size_t got = src.read(magic, 4);
  if (got < 4)
    fail(where, "a 4-byte IDX magic" + layer, std::to_string(got) + " bytes");
  if (magic[0] != 0 || magic[1] != 0)
    fail(where, "an IDX magic starting 00 00", "bytes " + hex(magic[0]) + " " + hex(magic[1]) +
                                                     " (not an IDX file)");
  if (magic[2] != 0x08)
    fail(where, "IDX data type 0x08 (unsigned byte)",
         "type " + hex(magic[2]) + " (" + idx_type_name(magic[2]) + "), which diffmem does not read");
  int ndim = magic[3];
  if (ndim < 1) fail(where, "at least one IDX dimension", "0");

  std::vector<unsigned char> dims(4 * static_cast<size_t>(ndim));
  got = src.read(dims.data(), dims.size());
  if (got < dims.size())
    fail(where, std::to_string(dims.size()) + " bytes of dimension sizes" + layer,
         std::to_string(got) + " (truncated)");
  std::vector<int64_t> shape(ndim);
  for (int i = 0; i < ndim; ++i) {
    const unsigned char* p = &dims[4 * i];
    shape[i] = int64_t{p[0]} << 24 | int64_t{p[1]} << 16 | int64_t{p[2]} << 8 | int64_t{p[3]};
  }
  uint64_t nbytes = detail::checked_nbytes(shape, 1, where);
  // A plain file's size can be checked before allocating, which guards against a lying header.
  if (!src.gzip()) {
    std::error_code ec;
    uint64_t size = fs::file_size(path, ec);
    uint64_t expected = 4 + dims.size() + nbytes;
    if (!ec && size != expected)
      fail(where,
           std::to_string(expected) + " bytes for u8 " + shape_str(shape),
           std::to_string(size) + " bytes" + (size < expected ? " (truncated)" : " (trailing bytes)"));
  }

  // gzip data is read in chunks, so a header that lies about the size fails on the missing bytes
  // instead of allocating them up front.
  HostArray a;
  a.dtype = DType::kU8;
  a.shape = shape;
  constexpr uint64_t kChunk = uint64_t{1} << 26;
  got = 0;
  while (got < nbytes) {
    size_t want = static_cast<size_t>(std::min(nbytes - got, kChunk));
    a.bytes.resize(got + want);
    size_t n = src.read(a.bytes.data() + got, want);
    got += n;
    if (n < want) break;
  }
  if (got != nbytes)
    fail(where, std::to_string(nbytes) + " data bytes for u8 " + shape_str(shape) + layer,
         std::to_string(got) + " (truncated)");
  unsigned char extra;
  if (src.read(&extra, 1) != 0)
    fail(where, "the end of the data after " + std::to_string(nbytes) + " bytes for u8 " +
                    shape_str(shape) + layer,
         "trailing bytes");
  return a;
}

}  // namespace diffmem::io
