#pragma once
// Long work reports progress through a callback; the CLI turns events into a refreshing line on a
// terminal and plain lines otherwise. The library never decides how progress looks.
#include <cstdint>
#include <functional>
#include <string>

namespace diffmem {

struct ProgressEvent {
  std::string stage;      // e.g. "train", "sample", "extract"
  int64_t done = 0;       // units finished
  int64_t total = 0;      // units in all (0 = unknown)
  std::string unit;       // e.g. "steps", "images"
  double rate = 0.0;      // units per second, over the run so far
  double eta_s = -1.0;    // seconds left, -1 = unknown
  std::string detail;     // e.g. "loss 0.0312"
  bool finished = false;  // last event of the stage
};

using ProgressFn = std::function<void(const ProgressEvent&)>;

/// Helper that fills rate and ETA from a monotonic clock started at construction.
class ProgressMeter {
 public:
  ProgressMeter(ProgressFn fn, std::string stage, int64_t total, std::string unit,
                int64_t start_at = 0);
  /// Reports `done` units; rate-limited to a few events per second unless `force`.
  void update(int64_t done, const std::string& detail = "", bool force = false);
  void finish(const std::string& detail = "");

 private:
  ProgressFn fn_;
  ProgressEvent ev_;
  int64_t start_at_;
  double t0_;
  double last_emit_ = -1e9;
};

}  // namespace diffmem
