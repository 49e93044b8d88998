#include "io_util.h"

#include <cerrno>
#include <cstring>
#include <limits>

#include "diffmem/core/error.h"
#include "diffmem/io/array.h"

namespace diffmem::io::detail {
namespace fs = std::filesystem;

int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& where) {
  constexpr int64_t kMax = int64_t{1} << 62;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(where, "non-negative dimensions", "shape " + shape_str(shape));
    if (d != 0 && n > kMax / d) fail(where, "a shape of fewer than 2^62 elements", shape_str(shape));
    n *= d;
  }
  return n;
}

uint64_t checked_nbytes(const std::vector<int64_t>& shape, size_t item_size,
                        const std::string& where) {
  auto n = static_cast<uint64_t>(checked_numel(shape, where));
  if (item_size != 0 && n > (uint64_t{1} << 62) / item_size)
    fail(where, "an array of fewer than 2^62 bytes", "shape " + shape_str(shape));
  return n * item_size;
}

InFile::InFile(const fs::path& path) : name_(path.string()) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(name_, "file does not exist");
  if (fs::is_directory(path, ec)) fail(name_, "a file", "a directory");
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) fail(name_, std::string("cannot open: ") + std::strerror(errno));
  if (::fseeko(f_, 0, SEEK_END) != 0) fail(name_, std::string("cannot seek: ") + std::strerror(errno));
  off_t end = ::ftello(f_);
  if (end < 0) fail(name_, std::string("cannot tell size: ") + std::strerror(errno));
  size_ = static_cast<uint64_t>(end);
}

InFile::~InFile() {
  if (f_) std::fclose(f_);
}

void InFile::read_at(uint64_t offset, void* dst, size_t n, const std::string& what) {
  if (offset > size_ || n > size_ - offset)
    fail(name_, std::to_string(n) + " bytes of " + what + " at offset " + std::to_string(offset),
         "a file of " + std::to_string(size_) + " bytes");
  if (n == 0) return;
  if (offset > static_cast<uint64_t>(std::numeric_limits<off_t>::max()) ||
      ::fseeko(f_, static_cast<off_t>(offset), SEEK_SET) != 0)
    fail(name_, std::string("cannot seek: ") + std::strerror(errno));
  size_t got = std::fread(dst, 1, n, f_);
  if (got != n)
    fail(name_, std::to_string(n) + " bytes of " + what + " at offset " + std::to_string(offset),
         std::to_string(got) + " (" + (std::ferror(f_) ? std::strerror(errno) : "end of file") + ")");
}

}  // namespace diffmem::io::detail
