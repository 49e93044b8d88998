#include "diffmem/core/error.h"

namespace diffmem {

void fail(const std::string& where, const std::string& expected, const std::string& found) {
  throw Error(where + ": expected " + expected + ", found " + found);
}

void fail(const std::string& where, const std::string& message) {
  throw Error(where + ": " + message);
}

}  // namespace diffmem
