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

}  // namespace diffmem::data
