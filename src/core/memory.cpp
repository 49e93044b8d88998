#include "diffmem/core/memory.h"

#include <fstream>
#include <string>

namespace diffmem::core {

int64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) {
      try {
        return static_cast<int64_t>(std::stoll(line.substr(6))) * 1024;  // "VmHWM:   12345 kB"
      } catch (const std::exception&) {
        return -1;
      }
    }
  return -1;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace diffmem::core
