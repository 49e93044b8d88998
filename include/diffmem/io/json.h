#pragma once
// JSON files (configs, manifests, summaries): nlohmann::json with diffmem's errors and atomic writes.
#include <filesystem>
#include <nlohmann/json.hpp>

namespace diffmem::io {

using Json = nlohmann::json;

/// Parses a JSON file; throws diffmem::Error naming the file and the parse position on bad input.
Json read_json(const std::filesystem::path& path);

/// Writes pretty-printed JSON (2-space indent, trailing newline) through temp file + rename.
void write_json(const std::filesystem::path& path, const Json& value);

}  // namespace diffmem::io
