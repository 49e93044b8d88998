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

void write_json(const std::filesystem::path& path, const Json& value) {
  core::write_file_atomic(path, value.dump(2) + "\n");
}

}  // namespace diffmem::io
