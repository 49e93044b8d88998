#pragma once
// JSON files (configs, manifests, summaries): nlohmann::json with diffmem's errors and atomic writes.
#include <filesystem>
#include <nlohmann/json.hpp>

namespace diffmem::io {

using Json = nlohmann::json;

/// Parses a JSON file; throws diffmem::Error naming the file and the parse position on bad input.
/// Python's non-standard -Infinity, Infinity and NaN tokens (as in diffusers' DPM configs) are
/// read as the strings "-Infinity", "Infinity" and "NaN".
Json read_json(const std::filesystem::path& path);

/// `top` merged into `base`: objects key by key (recursively), anything else replaces. Unlike
/// RFC 7386 merge_patch, a null in `top` is a value (an option set to none), not a deletion.
void overlay_json(Json& base, const Json& top);

/// Writes pretty-printed JSON (2-space indent, trailing newline) through temp file + rename.
void write_json(const std::filesystem::path& path, const Json& value);

}  // namespace diffmem::io
