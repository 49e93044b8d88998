#pragma once
// The prompts file of the black-box attack (CSV through io/csv.h, or JSONL).
//   CSV:   a header naming the columns id, prompt[, train_image][, duplicates] (any order; other
//          columns are ignored), RFC 4180 quoting ("..." fields may hold commas, newlines and "").
//   JSONL: one object per line: {"id": "a1" or 17, "prompt": "...", "train_image": "x.png",
//          "duplicates": 12}; blank lines are skipped.
// A relative train_image is relative to the prompts file's folder.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace diffmem::attack {

struct PromptEntry {
  std::string id;
  std::string prompt;
  std::filesystem::path train_image;  ///< empty when not given
  int64_t duplicates = -1;            ///< -1 when not given
};

/// Reads a prompts file: JSONL for .jsonl/.ndjson (or content starting with '{'), else CSV.
/// Throws diffmem::Error naming the file (and line) on a missing column, a bad field, an
/// unterminated quote, an empty or duplicate id.
std::vector<PromptEntry> read_prompts(const std::filesystem::path& path);

/// A folder name for a prompt id: the id itself when it is 1–100 characters of [A-Za-z0-9._-] not
/// starting with '.', otherwise the id with other characters replaced by '_' and a hash of the id
/// appended (so two ids never share a folder).
std::string group_folder_name(const std::string& id);

}  // namespace diffmem::attack
