#include "diffmem/core/content_hash.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "diffmem/core/error.h"

namespace diffmem::core {

uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t fnv1a_file(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path.string(), "a readable file", std::strerror(errno));
  std::vector<char> block(size_t{1} << 22);
  uint64_t h = kFnv1aOffset;
  for (;;) {
    const size_t got = std::fread(block.data(), 1, block.size(), f.get());
    h = fnv1a(block.data(), got, h);
    if (got < block.size()) break;
  }
  if (std::ferror(f.get())) fail(path.string(), "a readable file", "a read error");
  return h;
}

std::string hex64(uint64_t h) {
  char s[17];
  std::snprintf(s, sizeof s, "%016llx", static_cast<unsigned long long>(h));
  return s;
}

}  // namespace diffmem::core
