#include "diffmem/attack/blackbox_prompts.h"

#include <cstdio>
#include <map>
#include <set>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/json.h"

namespace diffmem::attack {
namespace fs = std::filesystem;
namespace {

int64_t parse_count(const std::string& s, const std::string& where) {
  size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  check(used == s.size() && !s.empty() && v >= 0, where, "a non-negative integer duplicates count",
        "'" + s + "'");
  return v;
}

fs::path resolve(const fs::path& base, const std::string& p) {
  if (p.empty()) return {};
  const fs::path q(p);
  return q.is_absolute() ? q : base / q;
}

std::vector<PromptEntry> read_csv_prompts(const std::string& text, const fs::path& path,
                                          const std::string& label) {
  const std::string where = path.string();
  const auto rows = io::parse_csv(text, where);
  check(!rows.empty(), where, "a header line naming a prompt (or caption) column", "an empty file");
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < rows[0].size(); ++i) col[rows[0][i]] = i;
  const char* prompt_column = col.count("prompt") ? "prompt" : "caption";
  std::string header;
  for (const auto& h : rows[0]) header += (header.empty() ? "" : ",") + h;
  check(col.count(prompt_column) > 0, where, "a header with a 'prompt' or 'caption' column",
        "'" + header.substr(0, 80) + "'");
  const bool labeled = !label.empty() && col.count(label) > 0;
  const fs::path base = path.parent_path();
  std::vector<PromptEntry> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::string at = where + ": record " + std::to_string(r);
    auto field = [&](const char* name) -> std::string {
      auto it = col.find(name);
      if (it == col.end() || it->second >= row.size()) return "";
      return row[it->second];
    };
    check(row.size() == rows[0].size(), at, std::to_string(rows[0].size()) + " fields",
          std::to_string(row.size()));
    PromptEntry e;
    e.id = col.count("id") ? field("id") : std::to_string(r - 1);
    e.prompt = field(prompt_column);
    e.train_image = resolve(base, field("train_image"));
    const std::string dup = field("duplicates");
    if (!dup.empty()) e.duplicates = parse_count(dup, at);
    if (labeled) {
      const std::string v = field(label.c_str());
      check(v == "0" || v == "1", at + ": " + label, "0 or 1", "'" + v.substr(0, 40) + "'");
      e.label = v == "1" ? 1 : 0;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<PromptEntry> read_jsonl_prompts(const std::string& text, const fs::path& path,
                                            const std::string& label) {
  const fs::path base = path.parent_path();
  int labeled = -1;  // decided by the first prompt
  std::vector<PromptEntry> out;
  size_t start = 0, line_no = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string at = path.string() + ":" + std::to_string(line_no);
    io::Json j;
    try {
      j = io::Json::parse(line);
    } catch (const std::exception& ex) {
      fail(at, "one JSON object per line", ex.what());
    }
    check(j.is_object(), at, "a JSON object", j.type_name());
    PromptEntry e;
    if (j.contains("id")) {
      check(j["id"].is_string() || j["id"].is_number_integer(), at, "an \"id\" string or integer",
            j["id"].dump().substr(0, 40));
      e.id = j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
    } else {
      e.id = std::to_string(out.size());
    }
    const char* key = j.contains("prompt") ? "prompt" : "caption";
    check(j.contains(key) && j[key].is_string(), at, "a \"prompt\" (or \"caption\") string",
          j.contains(key) ? j[key].dump().substr(0, 40) : "neither");
    e.prompt = j[key].get<std::string>();
    if (!label.empty()) {
      if (labeled < 0) labeled = j.contains(label) ? 1 : 0;
      const io::Json* v = j.contains(label) ? &j[label] : nullptr;
      if (labeled == 1) {
        check(v && (v->is_boolean() || (v->is_number_integer() && (*v == 0 || *v == 1))), at + ": " + label,
              "0, 1, true or false (the first prompt has one)", v ? v->dump().substr(0, 40) : "none");
        e.label = (v->is_boolean() ? v->get<bool>() : *v == 1) ? 1 : 0;
      } else {
        check(!v, at + ": " + label, "no label (the first prompt has none)", v ? v->dump().substr(0, 40) : "");
      }
    }
    if (j.contains("train_image") && !j["train_image"].is_null()) {
      check(j["train_image"].is_string(), at, "a \"train_image\" path string", j["train_image"].dump());
      e.train_image = resolve(base, j["train_image"].get<std::string>());
    }
    if (j.contains("duplicates") && !j["duplicates"].is_null()) {
      check(j["duplicates"].is_number_integer() && j["duplicates"].get<int64_t>() >= 0, at,
            "a non-negative integer \"duplicates\"", j["duplicates"].dump());
      e.duplicates = j["duplicates"].get<int64_t>();
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace


std::string group_folder_name(const std::string& id) {
  bool safe = !id.empty() && id.size() <= 100 && id[0] != '.';
  std::string clean;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    safe = safe && ok;
    clean += ok ? c : '_';
  }
  if (safe) return id;
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  if (clean.size() > 60) clean.resize(60);
  if (!clean.empty() && clean[0] == '.') clean[0] = '_';
  return clean + "-" + hex;
}

std::vector<PromptEntry> read_prompts(const fs::path& path, const std::string& label) {
  const std::string text = core::read_file(path);
  const std::string ext = path.extension().string();
  const size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  const bool jsonl = ext == ".jsonl" || ext == ".ndjson" ||
                     (ext != ".csv" && first != std::string::npos && text[first] == '{');
  std::vector<PromptEntry> entries = jsonl ? read_jsonl_prompts(text, path, label) : read_csv_prompts(text, path, label);
  check(!entries.empty(), path.string(), "at least one prompt", "none");
  std::set<std::string> ids, folders;
  for (const PromptEntry& e : entries) {
    check(!e.id.empty(), path.string(), "a non-empty id for every prompt",
          "an empty id (prompt '" + e.prompt.substr(0, 40) + "')");
    check(ids.insert(e.id).second, path.string(), "unique ids", "id '" + e.id + "' twice");
    check(folders.insert(group_folder_name(e.id)).second, path.string(),
          "ids that map to different folders", "a second id mapping to '" + group_folder_name(e.id) + "'");
  }
  return entries;
}

}  // namespace diffmem::attack
