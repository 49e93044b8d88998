#pragma once
// What every bench main needs: `--flag value` parsing with typed getters (an unknown flag or a
// missing value exits 2 naming it), a monotonic clock, and running a Python baseline.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

namespace bench {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class Flags {
 public:
  /// `known` lists the flags that take a value; `switches` those that take none.
  Flags(int argc, char** argv, std::set<std::string> known, std::set<std::string> switches,
        std::string usage)
      : usage_(std::move(usage)) {
    for (int i = 1; i < argc; ++i) {
      const std::string f = argv[i];
      if (switches.count(f)) {
        values_[f] = "1";
      } else if (known.count(f)) {
        if (i + 1 >= argc) die(f + " needs a value");
        values_[f] = argv[++i];
      } else {
        die("unknown flag " + f);
      }
    }
  }
  std::string str(const std::string& f, const std::string& dflt) const {
    auto it = values_.find(f);
    return it == values_.end() ? dflt : it->second;
  }
  long long num(const std::string& f, long long dflt) const {
    auto it = values_.find(f);
    if (it == values_.end()) return dflt;
    try {
      size_t used = 0;
      long long v = std::stoll(it->second, &used);
      if (used == it->second.size()) return v;
    } catch (...) {
    }
    die(f + " expects an integer, found '" + it->second + "'");
  }
  double real(const std::string& f, double dflt) const {
    auto it = values_.find(f);
    if (it == values_.end()) return dflt;
    try {
      size_t used = 0;
      double v = std::stod(it->second, &used);
      if (used == it->second.size()) return v;
    } catch (...) {
    }
    die(f + " expects a number, found '" + it->second + "'");
  }
  bool on(const std::string& f) const { return values_.count(f) > 0; }

 private:
  [[noreturn]] void die(const std::string& msg) const {
    std::fprintf(stderr, "%s\nusage: %s\n", msg.c_str(), usage_.c_str());
    std::exit(2);
  }
  std::map<std::string, std::string> values_;
  std::string usage_;
};

/// Runs a shell command line (the Python baseline); exits 1 naming it when it fails.
inline void run_or_die(const std::string& cmd) {
  std::fflush(stdout);
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "baseline failed: %s\n", cmd.c_str());
    std::exit(1);
  }
}

}  // namespace bench
