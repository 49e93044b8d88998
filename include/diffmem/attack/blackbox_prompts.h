#pragma once
// The prompts file of the black-box attack (CSV through io/csv.h, or JSONL).
//   CSV:   a header naming the columns [id,] prompt (or caption)[, train_image][, duplicates]
//          [, LABEL] (any order; other columns are ignored), RFC 4180 quoting ("..." fields may
//          hold commas, newlines and "").
//   JSONL: one object per line: {"id": "a1" or 17, "prompt": "..." (or "caption"), "train_image":
//          "x.png", "duplicates": 12, LABEL: 0/1/true/false}; blank lines are skipped.
// Without an id, a prompt's id is its 0-based row among the prompts ("0", "1", ...), the index
// `diffmem screen` reports. A relative train_image is relative to the prompts file's folder.
// LABEL (default "memorized", as in the public lists of Stable Diffusion's memorized prompts) is
// ground truth; a file either has it on every row or on none.
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
  int label = -1;                     ///< the ground-truth column's 0/1, -1 when the file has none
};

/// Reads a prompts file: JSONL for .jsonl/.ndjson (or content starting with '{'), else CSV.
/// Throws diffmem::Error naming the file (and line) on a missing column, a bad field, an
/// unterminated quote, an empty or duplicate id, a label that is not 0/1 or on some rows only.
std::vector<PromptEntry> read_prompts(const std::filesystem::path& path, const std::string& label = "memorized");

/// A folder name for a prompt id: the id itself when it is 1–100 characters of [A-Za-z0-9._-] not
/// starting with '.', otherwise the id with other characters replaced by '_' and a hash of the id
/// appended (so two ids never share a folder).
std::string group_folder_name(const std::string& id);

}  // namespace diffmem::attack
