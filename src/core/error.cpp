#include "diffmem/core/error.h"

namespace diffmem {

void fail(const std::string& where, const std::string& expected, const std::string& found) {
  throw Error(where + ": expected " + expected + ", found " + found);
}

void fail(const std::string& where, const std::string& message) {
  throw Error(where + ": " + message);
}

std::string one_line(const std::string& text) {
  size_t end = text.size();  // trailing newlines and spaces (torch's messages end in one) go
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' ')) --end;
  std::string out;
  out.reserve(end);
  for (const char ch : text.substr(0, end)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace diffmem
