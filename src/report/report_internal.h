#pragma once
// Pieces of report/report shared by its source files (private to the report layer).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/io/array.h"
#include "diffmem/io/json.h"
#include "diffmem/io/csv.h"
#include "diffmem/report/report.h"
#include "diffmem/report/run_dir.h"

namespace diffmem::report::detail {

using io::csv_columns;
using io::read_csv;

/// Where a run's stage outputs are (report/run_dir.h).
using RunLayout = RunDir;

/// Row `index` ([H,W,C]) of a U8 [N,H,W,C] .npy file, read without loading the rest.
io::HostArray npy_image(const std::filesystem::path& path, int64_t index);

/// A generations folder's shards, to fetch one generation by its position over all shards.
class Generations {
 public:
  explicit Generations(std::filesystem::path dir);
  int64_t size() const { return total_; }
  /// Generation g (position over all complete shards in index order): U8 [H,W,C].
  io::HostArray image(int64_t g) const;
  /// Same, by shard number and index inside it.
  io::HostArray image(int64_t shard, int64_t index) const;

 private:
  std::filesystem::path dir_;
  std::vector<std::pair<int64_t, int64_t>> shards_;  // (shard number, images)
  int64_t total_ = 0;
};

/// Parameter count from a safetensors header (the weights are not read); -1 when unreadable.
int64_t safetensors_parameters(const std::filesystem::path& path);

/// One JSON-pointer token (RFC 6901: ~ → ~0, / → ~1).
std::string pointer_token(const std::string& s);

/// How summary numbers are shown.
enum class Fmt { kInt, kFixed3, kPercent, kSig4 };  // kSig4: 4 significant digits (%.4g)

/// <span data-key="POINTER">formatted value</span> for the number at `pointer` in summary
/// ("—" when absent or null).
std::string show(const io::Json& summary, const std::string& pointer, Fmt fmt);

/// " [low, high]" (each a show() span, in <span class="ci">) for the [low, high] array at
/// `pointer`; "" when absent or null (no interval computed, or not measurable).
std::string show_interval(const io::Json& summary, const std::string& pointer, Fmt fmt);

/// <img> of an image array (U8 [H,W,C]) as an embedded PNG, `px` wide.
std::string image_tag(const io::HostArray& hwc, const std::string& alt, int64_t px);

/// A section: <section id=...><h2>title</h2> body or the "not run" note.
std::string section_html(const ReportSection& s, const std::string& body);

/// What each section contributes: its HTML body and summary entries under its own key.
struct SectionOut {
  ReportSection meta;
  std::string body;
};

SectionOut extraction_gallery(const RunLayout& run, const ReportOptions& o, io::Json& summary);
SectionOut duplicates_chart(const RunLayout& run, io::Json& summary);
SectionOut distance_histogram(const RunLayout& run, io::Json& summary);
SectionOut membership(const RunLayout& run, io::Json& summary);
SectionOut inpainting(const RunLayout& run, const ReportOptions& o, io::Json& summary);
SectionOut blackbox_cliques(const RunLayout& run, const ReportOptions& o, io::Json& summary);
SectionOut screen_section(const RunLayout& run, io::Json& summary);
SectionOut prompt_table(const RunLayout& run, const ReportOptions& o, io::Json& summary);
/// Sample quality (report_quality.cpp): quality/summary.json as a table; summary["quality"].
SectionOut quality_section(const RunLayout& run, io::Json& summary);

}  // namespace diffmem::report::detail
