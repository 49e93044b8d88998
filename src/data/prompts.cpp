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
  return read_labeled_prompt_file(path, "").prompts;
}

LabeledPrompts read_labeled_prompt_file(const fs::path& path, const std::string& label) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), "a readable prompts file", fs::exists(path) ? "unreadable" : "no such file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::string ext = path.extension().string();
  const size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  std::vector<std::string> out;
  std::vector<bool> labels;
  bool labeled = false;  // decided by the first row (JSONL) or the header (CSV)
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
      if (label.empty()) continue;
      if (out.size() == 1) labeled = j.contains(label);
      if (!labeled) continue;
      const io::Json* v = j.contains(label) ? &j[label] : nullptr;
      if (!v || !(v->is_boolean() || (v->is_number_integer() && (*v == 0 || *v == 1))))
        fail(at + ": " + label, "0, 1, true or false (as on the first row)", v ? v->dump().substr(0, 40) : "none");
      labels.push_back(v->is_boolean() ? v->get<bool>() : *v == 1);
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
    const auto label_column = label.empty() ? header.end() : std::find(header.begin(), header.end(), label);
    labeled = label_column != header.end();
    const size_t lc = labeled ? static_cast<size_t>(label_column - header.begin()) : 0;
    for (size_t r = 1; r < rows.size(); ++r) {
      const std::string at = path.string() + ": record " + std::to_string(r + 1);
      if (c >= rows[r].size() || (labeled && lc >= rows[r].size()))
        fail(at, "a " + *column + (labeled ? " and a " + label : std::string()) + " field",
             std::to_string(rows[r].size()) + " fields");
      out.push_back(rows[r][c]);
      if (!labeled) continue;
      const std::string& v = rows[r][lc];
      if (v != "0" && v != "1") fail(at + ": " + label, "0 or 1", "'" + v.substr(0, 40) + "'");
      labels.push_back(v == "1");
    }
  }
  if (out.empty()) fail(path.string(), "at least one prompt", "none");
  return {out, labels};
}

}  // namespace diffmem::data
