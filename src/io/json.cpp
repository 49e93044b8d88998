#include "diffmem/io/json.h"

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"

namespace diffmem::io {

Json read_json(const std::filesystem::path& path) {
  std::string text = core::read_file(path);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path.string(), "valid JSON", std::string("a parse error (") + e.what() + ")");
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
