// Reading a run directory for the report: single images out of .npy files and generation shards.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/data/generations.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/report/html.h"
#include "report_internal.h"

namespace diffmem::report::detail {
namespace fs = std::filesystem;
using io::Json;

io::HostArray npy_image(const fs::path& path, int64_t index) {
  const io::NpyHeader h = io::read_npy_header(path);
  if (h.dtype != io::DType::kU8 || h.shape.size() != 4)
    fail(path.string(), "uint8 images [N,H,W,C]", io::shape_str(h.shape));
  if (index < 0 || index >= h.shape[0])
    fail(path.string(), "an image index below " + std::to_string(h.shape[0]), std::to_string(index));
  io::HostArray a = io::read_npy_rows(path, index, 1);
  a.shape.erase(a.shape.begin());  // one image, [H,W,C]
  return a;
}

Generations::Generations(fs::path dir) : dir_(std::move(dir)) {
  if (!fs::is_directory(dir_)) return;
  for (const data::ShardFiles& s : data::list_shards(dir_))
    shards_.push_back({s.index, io::read_npy_header(s.images).shape.at(0)});
  for (auto& s : shards_) total_ += s.second;
}

io::HostArray Generations::image(int64_t shard, int64_t index) const {
  return npy_image(data::shard_files(dir_, shard).images, index);
}

io::HostArray Generations::image(int64_t g) const {
  for (const auto& [shard, n] : shards_) {
    if (g < n) return image(shard, g);
    g -= n;
  }
  fail(dir_.string(), "a generation index below " + std::to_string(total_), "beyond the shards");
}

int64_t safetensors_parameters(const fs::path& path) {
  try {
    return io::read_safetensors_header(path).parameters();
  } catch (const Error&) {
    return -1;  // the summary then leaves the count out
  }
}

std::string pointer_token(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

std::string show(const Json& summary, const std::string& pointer, Fmt fmt) {
  const Json::json_pointer ptr(pointer);
  std::string text = "—";
  if (summary.contains(ptr) && summary.at(ptr).is_number()) {
    const double v = summary.at(ptr).get<double>();
    if (fmt == Fmt::kInt) {
      char b[32];
      std::snprintf(b, sizeof b, "%lld", static_cast<long long>(std::llround(v)));
      text = b;
    } else if (fmt == Fmt::kSig4) {
      char b[32];
      std::snprintf(b, sizeof b, "%.4g", v);
      text = b;
    } else {
      text = fmt == Fmt::kPercent ? format_percent(v, 1) : format_fixed(v, 3);
    }
  }
  return "<span class=\"num\" data-key=\"" + html_escape(pointer) + "\">" + text + "</span>";
}

std::string show_interval(const Json& summary, const std::string& pointer, Fmt fmt) {
  const Json::json_pointer ptr(pointer);
  if (!summary.contains(ptr)) return "";
  const Json& v = summary.at(ptr);
  if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) return "";
  return " <span class=\"ci\">[" + show(summary, pointer + "/0", fmt) + ", " + show(summary, pointer + "/1", fmt) +
         "]</span>";
}

std::string image_tag(const io::HostArray& hwc, const std::string& alt, int64_t px) {
  return png_img_tag(io::encode_png(hwc), alt, static_cast<int>(px));
}

std::string section_html(const ReportSection& s, const std::string& body) {
  std::string h = "<section id=\"" + html_escape(s.id) + "\">\n<h2>" + html_escape(s.title) + "</h2>\n";
  if (s.present)
    h += body;
  else
    h += "<p class=\"notrun\">Not run" + (s.note.empty() ? std::string() : ": " + html_escape(s.note)) +
         "</p>\n";
  return h + "</section>\n";
}

}  // namespace diffmem::report::detail
