#pragma once
// Prompt (caption) files for text-to-image generation: CSV with a `prompt` or `caption` column
// (io/csv.h; other columns ignored), or JSONL with one object per line holding "prompt" or
// "caption" (.jsonl / .ndjson, or content starting with '{'). Prompts are text, never commands.
#include <filesystem>
#include <string>
#include <vector>

namespace diffmem::data {

/// The prompts of `path`, in file order. Throws diffmem::Error naming the file and the line for a
/// missing column or field, a non-string prompt, bad JSON, or a file without prompts.
std::vector<std::string> read_prompt_file(const std::filesystem::path& path);

struct LabeledPrompts {
  std::vector<std::string> prompts;
  std::vector<bool> labels;  // one per prompt when the file has the label column, else empty
};

/// As read_prompt_file, plus the 0/1 column (CSV) or field (JSONL: 0, 1, true or false) named
/// `label`, such as "memorized" in the public lists of Stable Diffusion's memorized prompts. A
/// file without it gives no labels; a file with it needs a 0/1 value on every row (errors name
/// the file and the row).
LabeledPrompts read_labeled_prompt_file(const std::filesystem::path& path, const std::string& label);

}  // namespace diffmem::data
