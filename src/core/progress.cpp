#include "diffmem/core/progress.h"

#include <chrono>

namespace diffmem {
namespace {
double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

ProgressMeter::ProgressMeter(ProgressFn fn, std::string stage, int64_t total, std::string unit,
                             int64_t start_at)
    : fn_(std::move(fn)), start_at_(start_at), t0_(now_s()) {
  ev_.stage = std::move(stage);
  ev_.total = total;
  ev_.unit = std::move(unit);
  ev_.done = start_at;
}

void ProgressMeter::update(int64_t done, const std::string& detail, bool force) {
  if (!fn_) return;
  double t = now_s();
  ev_.done = done;
  ev_.detail = detail;
  double elapsed = t - t0_;
  int64_t since = done - start_at_;
  ev_.rate = elapsed > 0 ? since / elapsed : 0.0;
  ev_.eta_s = (ev_.rate > 0 && ev_.total > 0) ? (ev_.total - done) / ev_.rate : -1.0;
  if (!force && t - last_emit_ < 0.25 && done != ev_.total) return;
  last_emit_ = t;
  fn_(ev_);
}

void ProgressMeter::finish(const std::string& detail) {
  if (!fn_) return;
  ev_.finished = true;
  update(ev_.done, detail.empty() ? ev_.detail : detail, true);
}

}  // namespace diffmem
