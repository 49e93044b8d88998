#include "diffmem/core/format.h"

#include <cstdio>

namespace diffmem::core {

std::string exact_number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace diffmem::core
