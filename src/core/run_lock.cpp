#include "diffmem/core/run_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "diffmem/core/error.h"

namespace diffmem::core {
namespace fs = std::filesystem;
namespace {

constexpr const char* kLockName = ".diffmem.lock";

// The PID after `marker` at the end of `name` ("images-00000.npy.tmp.123" with ".tmp."), or -1.
long trailing_pid(const std::string& name, const std::string& marker) {
  const auto at = name.rfind(marker);
  if (at == std::string::npos) return -1;
  const std::string digits = name.substr(at + marker.size());
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stol(digits);
}

int sweep(const fs::path& dir, int depth) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool is_dir = it->is_directory(ec) && !it->is_symlink(ec);
    const long pid = is_dir && name.rfind(".staging.", 0) == 0 ? trailing_pid(name, ".staging.")
                     : !is_dir                                  ? trailing_pid(name, ".tmp.")
                                                                : -1;
    if (pid > 0 && pid != ::getpid() && !process_alive(pid)) {
      std::error_code rm;
      fs::remove_all(it->path(), rm);
      if (!rm) ++removed;
    } else if (is_dir && depth > 1) {
      removed += sweep(it->path(), depth - 1);
    }
  }
  return removed;
}

}  // namespace

bool process_alive(long pid) {
  if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM)) return false;
  // A killed process its parent has not reaped yet (a zombie: in a container whose init reaps
  // late, or a rank whose mpirun was killed with it) still answers kill(pid, 0), but will never
  // finish its temporaries. /proc/PID/stat: "PID (COMM) STATE ...", COMM may hold ')'.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;  // no /proc: trust kill()
  const size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return true;
  const char state = text[close + 2];
  return state != 'Z' && state != 'X';
}

int remove_stale_temporaries(const fs::path& dir) { return sweep(dir, 3); }

RunLock::RunLock(const fs::path& dir, const std::string& flag) : dir_(dir) {
  std::error_code ec;
  created_ = !fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) fail(flag + " " + dir.string(), "cannot create directory: " + ec.message());
  const fs::path file = dir / kLockName;
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(file.string(), std::string("cannot open the run's lock file: ") + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    created_ = false;
    if (e != EWOULDBLOCK) fail(file.string(), std::string("cannot lock: ") + std::strerror(e));
    std::string holder(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    if (holder.empty() || holder.find_first_not_of("0123456789") != std::string::npos) holder = "?";
    fail(flag + " " + dir.string(), "a folder no other diffmem run is writing to",
         "one in use by pid " + holder + " (wait for it, or choose another " + flag + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // Best effort: without the pid the lock still holds; only a second run's message would lack it.
  const bool wrote = ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
  (void)wrote;
  remove_stale_temporaries(dir);
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  std::error_code ec;
  if (created_) {
    bool only_lock = true;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename() != kLockName) only_lock = false;
    if (!ec && only_lock) {
      fs::remove(dir_ / kLockName, ec);
      fs::remove(dir_, ec);
    }
  }
  ::close(fd_);
}

}  // namespace diffmem::core
