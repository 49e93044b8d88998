#include "diffmem/data/prompts.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "diffmem/core/error.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/json.h"

namespace diffmem::data {
namespace fs = std::filesystem;

std::vector<std::string> read_prompt_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), "a readable prompts file", fs::exists(path) ? "unreadable" : "no such file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::string ext = path.extension().string();
  const size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  std::vector<std::string> out;
  if (ext == ".jsonl" || ext == ".ndjson" || (first != std::string::npos && text[first] == '{')) {
    std::istringstream lines(text);
    std::string line;
    for (int64_t n = 1; std::getline(lines, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string at = path.string() + ": line " + std::to_string(n);
      const io::Json j = io::Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) fail(at, "a JSON object", "'" + line.substr(0, 40) + "'");
      const char* key = j.contains("prompt") ? "prompt" : "caption";
      if (!j.contains(key) || !j[key].is_string())
        fail(at, "a string \"prompt\" or \"caption\"", j.contains(key) ? j[key].dump().substr(0, 40) : "neither");
      out.push_back(j[key].get<std::string>());
    }
  } else {
    const io::CsvRows rows = io::parse_csv(text, path.string());
    if (rows.empty()) fail(path.string(), "a CSV header with a prompt or caption column", "an empty file");
    const auto& header = rows[0];
    auto column = std::find(header.begin(), header.end(), "prompt");
    if (column == header.end()) column = std::find(header.begin(), header.end(), "caption");
    if (column == header.end()) {
      std::string names;
      for (const auto& h : header) names += (names.empty() ? "" : ",") + h;
      fail(path.string(), "a CSV header with a prompt or caption column", "columns " + names.substr(0, 80));
    }
    const size_t c = static_cast<size_t>(column - header.begin());
    for (size_t r = 1; r < rows.size(); ++r) {
      if (c >= rows[r].size())
        fail(path.string() + ": record " + std::to_string(r + 1), "a " + *column + " field",
             std::to_string(rows[r].size()) + " fields");
      out.push_back(rows[r][c]);
    }
  }
  if (out.empty()) fail(path.string(), "at least one prompt", "none");
  return out;
}

}  // namespace diffmem::data
