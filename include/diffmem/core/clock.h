#pragma once
// Wall-clock seconds for the `timing` objects of summaries (steady clock: differences only).
#include <chrono>

namespace diffmem::core {

/// Seconds on the steady clock from an arbitrary origin.
inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Seconds since t0 on the steady clock.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace diffmem::core
