#pragma once
// Content hashes for cache keys. A cache key names what a result was computed from by its bytes,
// never by a path or a modification time, so a run directory that is moved or copied (with its
// models and data) still resumes, and a file rewritten with other bytes never reuses stale results.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace diffmem::core {

constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ULL;

/// 64-bit FNV-1a over `n` bytes, continuing from `h`.
uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnv1aOffset);
inline uint64_t fnv1a(std::string_view s, uint64_t h = kFnv1aOffset) { return fnv1a(s.data(), s.size(), h); }

/// FNV-1a of a whole file, read in blocks. Throws diffmem::Error naming the file when it cannot be read.
uint64_t fnv1a_file(const std::filesystem::path& path);

/// A hash as 16 lower-case hex digits (JSON keeps it exactly, unlike a 64-bit number).
std::string hex64(uint64_t h);

}  // namespace diffmem::core
