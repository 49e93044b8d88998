// Reading a run directory for the report: its layout, CSV files, single images out of .npy files.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/report/html.h"
#include "report_internal.h"

namespace diffmem::report::detail {
namespace fs = std::filesystem;
using io::Json;

RunLayout read_layout(const fs::path& run) {
  if (!fs::is_directory(run)) fail(run.string(), "a run directory (diffmem audit --run)", "no such folder");
  RunLayout l;
  l.run = run;
  Json paths = Json::object();
  if (fs::is_regular_file(run / "run.json")) {
    paths = io::read_json(run / "run.json");
    if (!paths.is_object()) fail((run / "run.json").string(), "a JSON object of paths", paths.type_name());
  }
  if (fs::is_regular_file(run / "audit.json")) l.audit = io::read_json(run / "audit.json");
  auto at = [&](const char* key, const char* fallback) {
    const Json v = paths.value(key, Json());
    const fs::path p = v.is_string() ? fs::path(v.get<std::string>()) : fs::path(fallback);
    return p.is_absolute() ? p : run / p;
  };
  l.data = at("data", "data");
  l.train_data = at("train_data", "train-data");
  l.model = at("model", "model");
  l.samples = at("samples", "samples");
  l.extract = at("extract", "extract");
  l.blackbox = at("blackbox", "blackbox");
  l.mia = at("mia", "mia");
  l.inpaint = at("inpaint", "inpaint");
  return l;
}

std::string stage_note(const fs::path& run, const std::string& stage) {
  const fs::path p = run / "stages" / (stage + ".json");
  if (!fs::is_regular_file(p)) return "";
  try {
    const Json j = io::read_json(p);
    if (!j.is_object() || !j.contains("state")) return "";
    if (j["state"] == "not run" && j.contains("detail") && j["detail"].is_string())
      return j["detail"].get<std::string>();
    if (j["state"] == "running") return "started but not finished (rerun the audit to resume)";
  } catch (const Error&) {
    // An unreadable marker only loses the reason; the section still says "not run".
  }
  return "";
}

std::vector<std::vector<std::string>> read_csv(const fs::path& path) {
  const std::string text = core::read_file(path);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  size_t i = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;
  auto end_record = [&] {
    if (any || !field.empty() || !row.empty()) {
      row.push_back(field);
      rows.push_back(row);
    }
    row.clear();
    field.clear();
    any = false;
  };
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted) fail(path.string(), "a closing quote", "end of file inside a quoted field");
  end_record();
  return rows;
}

std::map<std::string, size_t> csv_columns(const std::vector<std::string>& header,
                                          const std::vector<std::string>& needed,
                                          const fs::path& path) {
  std::map<std::string, size_t> cols;
  for (size_t i = 0; i < header.size(); ++i) cols[header[i]] = i;
  for (const auto& n : needed)
    if (!cols.count(n)) fail(path.string(), "a column '" + n + "'", "a header without it");
  return cols;
}

io::HostArray npy_image(const fs::path& path, int64_t index) {
  const io::NpyHeader h = io::read_npy_header(path);
  if (h.dtype != io::DType::kU8 || h.shape.size() != 4)
    fail(path.string(), "uint8 images [N,H,W,C]", io::shape_str(h.shape));
  if (index < 0 || index >= h.shape[0])
    fail(path.string(), "an image index below " + std::to_string(h.shape[0]), std::to_string(index));
  io::HostArray a = io::HostArray::zeros(io::DType::kU8, {h.shape[1], h.shape[2], h.shape[3]});
  std::ifstream f(path, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(h.data_offset + a.nbytes() * static_cast<size_t>(index)));
  f.read(reinterpret_cast<char*>(a.bytes.data()), static_cast<std::streamsize>(a.nbytes()));
  if (!f) fail(path.string(), "image " + std::to_string(index), "a short read");
  return a;
}

Generations::Generations(fs::path dir) : dir_(std::move(dir)) {
  if (!fs::is_directory(dir_)) return;
  for (const auto& e : fs::directory_iterator(dir_)) {
    long long idx = 0;
    char tail[8] = {0};
    const std::string name = e.path().filename().string();
    if (std::sscanf(name.c_str(), "images-%lld.%4s", &idx, tail) == 2 && std::strcmp(tail, "npy") == 0)
      shards_.push_back({idx, io::read_npy_header(e.path()).shape.at(0)});
  }
  std::sort(shards_.begin(), shards_.end());
  for (auto& s : shards_) total_ += s.second;
}

io::HostArray Generations::image(int64_t shard, int64_t index) const {
  char name[40];
  std::snprintf(name, sizeof name, "images-%05lld.npy", static_cast<long long>(shard));
  return npy_image(dir_ / name, index);
}

io::HostArray Generations::image(int64_t g) const {
  for (const auto& [shard, n] : shards_) {
    if (g < n) return image(shard, g);
    g -= n;
  }
  fail(dir_.string(), "a generation index below " + std::to_string(total_), "beyond the shards");
}

int64_t safetensors_parameters(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  uint8_t len_bytes[8];
  if (!f.read(reinterpret_cast<char*>(len_bytes), 8)) return -1;
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | len_bytes[i];
  if (len > 100'000'000) return -1;
  std::string header(len, '\0');
  if (!f.read(header.data(), static_cast<std::streamsize>(len))) return -1;
  const Json j = Json::parse(header, nullptr, false);
  if (!j.is_object()) return -1;
  int64_t total = 0;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__" || !it.value().contains("shape")) continue;
    int64_t n = 1;
    for (const auto& d : it.value()["shape"]) n *= d.get<int64_t>();
    total += n;
  }
  return total;
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
    } else {
      text = fmt == Fmt::kPercent ? format_percent(v, 1) : format_fixed(v, 3);
    }
  }
  return "<span class=\"num\" data-key=\"" + html_escape(pointer) + "\">" + text + "</span>";
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
