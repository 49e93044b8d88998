#include "diffmem/io/csv.h"

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"

namespace diffmem::io {

CsvRows parse_csv(const std::string& text, const std::string& where) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  size_t i = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  size_t line = 1;
  bool any = false;  // the current record has content (so a blank line is not a record)
  auto end_record = [&] {
    if (any || !field.empty() || !row.empty()) {
      row.push_back(std::move(field));
      rows.push_back(std::move(row));
    }
    row.clear();
    field.clear();
    any = false;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"' && field.empty()) {
      const size_t opened = line;
      any = true;
      ++i;
      for (;;) {
        if (i >= text.size())
          fail(where + ": line " + std::to_string(opened), "a closing \" for the quoted field",
               "the end of the file");
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (text[i] == '\n') ++line;
        field += text[i++];
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
        fail(where + ": line " + std::to_string(line), "a comma or line end after a closing quote",
             std::string("'") + text[i] + "'");
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
      ++i;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++i;
      ++line;
      end_record();
    } else {
      field += c;
      any = true;
      ++i;
    }
  }
  end_record();
  return rows;
}

std::string csv_field(const std::string& v) {
  const bool quote = v.find_first_of(",\"\r\n") != std::string::npos ||
                     (!v.empty() && (v.front() == ' ' || v.back() == ' ' || v.front() == '\t' ||
                                     v.back() == '\t'));
  if (!quote) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

CsvRows read_csv(const std::filesystem::path& path) {
  return parse_csv(core::read_file(path), path.string());
}

std::map<std::string, size_t> csv_columns(const std::vector<std::string>& header,
                                          const std::vector<std::string>& needed,
                                          const std::string& where) {
  std::map<std::string, size_t> cols;
  for (size_t i = 0; i < header.size(); ++i) cols[header[i]] = i;
  for (const auto& n : needed)
    if (!cols.count(n)) fail(where, "a column '" + n + "'", "a header without it");
  return cols;
}

}  // namespace diffmem::io
