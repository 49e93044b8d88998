#pragma once
// Threads and device selection. Debian's libtorch starts with one thread; the CLI calls
// set_threads once from --threads (0 = all cores).
#include <string>

namespace diffmem::core {

/// Sets torch's intra-op thread count; n <= 0 means all hardware threads. Returns the count used.
int set_threads(int n);

/// "cpu", "cuda", "cuda:1" or "auto" (CUDA when available). Throws on an unavailable device.
/// Returns the canonical device string; torch::Device(str) builds the device.
std::string resolve_device(const std::string& requested);

bool cuda_available();

/// The CUDA devices this process sees (0 without CUDA).
int cuda_device_count();

}  // namespace diffmem::core
