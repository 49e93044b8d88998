#pragma once
// The one exception type of the library. Only the CLI's main() catches it, prints its one line,
// and exits non-zero. Messages name the file (or flag) at fault, what was expected and what was found.
#include <stdexcept>
#include <string>

namespace diffmem {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// "WHERE: expected EXPECTED, found FOUND" — the shape of nearly every error diffmem raises.
[[noreturn]] void fail(const std::string& where, const std::string& expected,
                       const std::string& found);

/// "WHERE: MESSAGE" for problems that are not an expected/found mismatch (e.g. I/O errors).
[[noreturn]] void fail(const std::string& where, const std::string& message);

/// `text` as one printable line: newlines, tabs, escape codes and other control bytes written as
/// \n, \t, \x1b, ..., so an error that quotes input bytes cannot break
/// the line or drive the terminal. Bytes >= 0x80 (UTF-8) pass unchanged.
std::string one_line(const std::string& text);

/// Throws `fail(where, expected, found)` unless `ok`.
inline void check(bool ok, const std::string& where, const std::string& expected,
                  const std::string& found) {
  if (!ok) fail(where, expected, found);
}

}  // namespace diffmem
