#include "diffmem/core/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "diffmem/core/error.h"

namespace diffmem::core {
namespace fs = std::filesystem;

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)) {
  if (path_.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path_.parent_path(), ec);
    if (ec) fail(path_.parent_path().string(), "cannot create directory: " + ec.message());
  }
  tmp_ = path_;
  tmp_ += ".tmp." + std::to_string(::getpid());
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) fail(tmp_.string(), std::string("cannot open for writing: ") + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
}

void AtomicFile::write(const void* data, size_t size) {
  if (committed_) fail(path_.string(), "write after commit");
  if (size == 0) return;
  size_t n = std::fwrite(data, 1, size, f_);
  if (n != size)
    fail(path_.string(), "write failed after " + std::to_string(written_ + n) +
                             " bytes: " + std::strerror(errno));
  written_ += size;
}

void AtomicFile::flush() {
  if (committed_) return;
  if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0) {
    int e = errno;
    fail(path_.string(), std::string("cannot flush: ") + std::strerror(e));
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  flush();
  if (std::fclose(f_) != 0) {
    f_ = nullptr;
    fail(path_.string(), std::string("cannot close: ") + std::strerror(errno));
  }
  f_ = nullptr;
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  if (ec) fail(path_.string(), "cannot rename temporary file into place: " + ec.message());
  committed_ = true;
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path.string(), "file does not exist");
  if (fs::is_directory(path, ec)) fail(path.string(), "a file", "a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path.string(), "read error");
  return ss.str();
}

}  // namespace diffmem::core
