#pragma once
// Peak resident memory of this process, for the cost each stage reports. Linux: VmHWM from
// /proc/self/status; the peak is reset by writing "5" to /proc/self/clear_refs (Linux ≥ 4.0), so a
// stage can report its own peak rather than the process's. Elsewhere (or when /proc is not
// readable) the functions say so by returning -1 / false.
#include <cstdint>

namespace diffmem::core {

/// The process's peak resident set size in bytes since start or the last reset; -1 if unknown.
int64_t peak_rss_bytes();

/// Resets the peak to the current resident size. False when the system does not allow it (then
/// peak_rss_bytes keeps counting from the process start).
bool reset_peak_rss();

/// Measures one stage: resets the peak on construction; peak() is the stage's peak so far, and
/// whether it counts from the stage's start (reset worked) or from the process start.
class PeakMemory {
 public:
  PeakMemory() : since_stage_(reset_peak_rss()) {}
  int64_t peak() const { return peak_rss_bytes(); }
  bool since_stage_start() const { return since_stage_; }

 private:
  bool since_stage_;
};

}  // namespace diffmem::core
