#pragma once
// Private helpers of the io layer: bounded reads that turn short files into diffmem::Error, and
// shape arithmetic that cannot overflow on a lying header.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace diffmem::io::detail {

/// Elements of `shape`; fails naming `where` on a negative dimension or an overflow past 2^62.
int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& where);

/// numel × item size with the same checks.
uint64_t checked_nbytes(const std::vector<int64_t>& shape, size_t item_size,
                        const std::string& where);

/// A read-only file whose reads either deliver every byte asked for or throw.
class InFile {
 public:
  explicit InFile(const std::filesystem::path& path);
  ~InFile();
  InFile(const InFile&) = delete;
  InFile& operator=(const InFile&) = delete;

  uint64_t size() const { return size_; }
  const std::string& name() const { return name_; }
  /// Reads exactly `n` bytes at `offset`; `what` names them in the error ("the header length").
  void read_at(uint64_t offset, void* dst, size_t n, const std::string& what);

 private:
  std::string name_;
  std::FILE* f_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace diffmem::io::detail
