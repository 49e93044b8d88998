#include "diffmem/io/fields.h"

namespace diffmem::io {
namespace detail {

void type_error(const std::string& key, const char* expected, const Json& found) {
  std::string f = found.dump();
  if (f.size() > 60) f = f.substr(0, 57) + "...";
  throw FieldError{key, expected, f};
}

}  // namespace detail

void fail_field(const std::string& where, const FieldError& e) {
  fail(e.key.empty() ? where : where + ": " + e.key, e.expected, e.found);
}

}  // namespace diffmem::io
