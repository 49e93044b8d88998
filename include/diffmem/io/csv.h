#pragma once
// CSV files (RFC 4180), the one reader and field writer every layer uses: results diffmem writes
// (matches.csv, roc.csv, cliques.csv, ...) and prompt files users give.
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace diffmem::io {

using CsvRows = std::vector<std::vector<std::string>>;

/// Records of CSV text, the header first (a UTF-8 BOM is skipped; LF or CRLF ends a record;
/// blank lines are skipped; "..." fields may hold commas, newlines and ""). Throws diffmem::Error
/// naming `where` and the line on an unterminated quote or text after a closing quote.
CsvRows parse_csv(const std::string& text, const std::string& where);

/// parse_csv of a file's text; errors name the file.
CsvRows read_csv(const std::filesystem::path& path);

/// One CSV field: quoted (with "" for ") when it holds a comma, quote, CR or LF, or starts or ends
/// with a blank; as is otherwise.
std::string csv_field(const std::string& value);

/// Column name → index of a header; throws naming `where` when a needed column is absent.
std::map<std::string, size_t> csv_columns(const std::vector<std::string>& header,
                                          const std::vector<std::string>& needed,
                                          const std::string& where);

}  // namespace diffmem::io
