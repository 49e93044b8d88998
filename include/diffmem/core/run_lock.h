#pragma once
// One diffmem run per output folder at a time. Two runs into the same --out would interleave
// their shards and leave a manifest that matches neither; a RunLock holds an advisory flock on
// OUT/.diffmem.lock for as long as it lives (the kernel drops it when the process dies, so a
// killed run never blocks its resume) and the second run fails at once, naming the holder's pid.
#include <filesystem>
#include <string>

namespace diffmem::core {

class RunLock {
 public:
  /// Creates `dir` when missing and locks it; `flag` names the option in errors ("--out").
  /// Then removes the temporaries (AtomicFile's NAME.tmp.PID, a data set's .staging.PID) that
  /// killed processes left under `dir`.
  RunLock(const std::filesystem::path& dir, const std::string& flag);
  /// Unlocks; a folder this lock created and nothing else wrote to is removed again, so a
  /// refused command leaves no trace.
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  std::filesystem::path dir_;
  int fd_ = -1;
  bool created_ = false;
};

/// Whether process `pid` exists (kill(pid, 0)).
bool process_alive(long pid);

/// Removes NAME.tmp.PID files and .staging.PID folders under `dir` (three levels deep) whose PID
/// is not a live process; returns how many it removed.
int remove_stale_temporaries(const std::filesystem::path& dir);

}  // namespace diffmem::core
