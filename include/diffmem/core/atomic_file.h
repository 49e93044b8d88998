#pragma once
// Every file diffmem writes goes through a temporary file in the same directory and a rename, so a
// killed run never leaves a half-written output and "the file exists" means "the file is complete".
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace diffmem::core {

class AtomicFile {
 public:
  /// Opens `<path>.tmp.<pid>` for writing; creates missing parent directories.
  explicit AtomicFile(std::filesystem::path path);
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends bytes; throws diffmem::Error naming the file on a short write (e.g. a full disk).
  void write(const void* data, size_t size);
  void write(std::string_view s) { write(s.data(), s.size()); }
  /// Flushes and fsyncs the temporary file: after it, only the rename of commit() is left to fail,
  /// so a caller writing two files can make sure both fit before either replaces an old one.
  void flush();
  /// Flushes, fsyncs and renames onto the final path. Nothing is visible at `path` before this.
  void commit();
  const std::filesystem::path& path() const { return path_; }
  uint64_t bytes_written() const { return written_; }

 private:
  std::filesystem::path path_;
  std::filesystem::path tmp_;
  std::FILE* f_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

/// Writes `bytes` to `path` atomically.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

/// Reads a whole file; throws diffmem::Error naming the file if it is missing or unreadable.
std::string read_file(const std::filesystem::path& path);

}  // namespace diffmem::core
