#include "diffmem/io/json.h"

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"

namespace diffmem::io {
namespace {

// Python's json module writes the non-standard tokens -Infinity, Infinity and NaN (diffusers'
// DPMSolverMultistepScheduler config holds "lambda_min_clipped": -Infinity). Outside strings they
// become the strings "-Infinity", "Infinity" and "NaN"; the config readers decide what they mean.
std::string quote_non_finite(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const char* token : {"-Infinity", "Infinity", "NaN"}) {
      const size_t n = std::char_traits<char>::length(token);
      if (text.compare(i, n, token) == 0) {
        out += '"';
        out += token;
        out += '"';
        i += n - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

}  // namespace

Json read_json(const std::filesystem::path& path) {
  std::string text = core::read_file(path);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    try {
      return Json::parse(quote_non_finite(text));
    } catch (const nlohmann::json::exception&) {  // also out_of_range (found by scripts/fuzz.sh)
    }
    fail(path.string(), "valid JSON", std::string("a parse error (") + e.what() + ")");
  } catch (const nlohmann::json::exception& e) {  // e.g. 1e400: a number past double's range
    fail(path.string(), "valid JSON with numbers a double holds", e.what());
  }
}

void overlay_json(Json& base, const Json& top) {
  for (auto it = top.begin(); it != top.end(); ++it) {
    if (base.contains(it.key()) && base[it.key()].is_object() && it.value().is_object())
      overlay_json(base[it.key()], it.value());
    else
      base[it.key()] = it.value();
  }
}

void write_json(const std::filesystem::path& path, const Json& value) {
  core::write_file_atomic(path, value.dump(2) + "\n");
}

}  // namespace diffmem::io
