#include "diffmem/data/captions.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/json.h"

namespace diffmem::data {
namespace fs = std::filesystem;
namespace {

const char* kCaptions = "captions.jsonl";

// Picks from a list with the image's own stream of the seed.
const std::string& pick(const std::vector<std::string>& list, core::Rng& rng) {
  return list[static_cast<size_t>(rng.next_u64() % list.size())];
}

const std::vector<std::string> kLooks = {"plain", "dark", "light", "faded", "bright", "worn",
                                         "new", "small", "large", "soft", "classic", "simple"};
const std::vector<std::string> kPatterns = {"striped", "checked", "dotted", "grey", "black", "white",
                                            "patterned", "textured", "smooth", "two-tone"};
const std::vector<std::string> kSettings = {"on a white background", "in a shop window", "folded on a table",
                                            "seen from the front", "on a hanger", "in soft light",
                                            "on display", "in a catalog photo", "seen from above",
                                            "on a grey floor"};
const std::vector<std::string> kVariations = {"a photo", "high quality", "close-up", "studio light",
                                              "product shot", "detailed", "front view", "sharp focus",
                                              "centered", "plain background", "catalog", "black and white"};

// JSONL: each line's object, with "FILE: line N" for errors; blank lines skipped.
void for_each_json_line(const std::string& text, const std::string& where,
                        const std::function<void(const io::Json&, const std::string&)>& fn) {
  size_t start = 0;
  for (int64_t line = 1; start < text.size(); ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string row = text.substr(start, end - start);
    start = end + 1;
    if (row.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string at = where + ": line " + std::to_string(line);
    const io::Json j = io::Json::parse(row, nullptr, /*allow_exceptions=*/false);
    check(!j.is_discarded() && j.is_object(), at, "a JSON object", "'" + row.substr(0, 40) + "'");
    fn(j, at);
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string column(const std::vector<std::string>& header, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (std::find(header.begin(), header.end(), n) != header.end()) return n;
  return "";
}

}  // namespace

std::optional<std::vector<std::string>> load_captions(const fs::path& dir, int64_t expected_n) {
  const fs::path p = dir / kCaptions;
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  const std::string text = core::read_file(p);
  std::vector<std::string> out;
  for_each_json_line(text, p.string(), [&](const io::Json& j, const std::string& at) {
    check(j.contains("caption") && j["caption"].is_string(), at, "a string \"caption\"",
          j.contains("caption") ? j["caption"].dump().substr(0, 40) : "none");
    out.push_back(j["caption"].get<std::string>());
  });
  if (expected_n >= 0)
    check(static_cast<int64_t>(out.size()) == expected_n, p.string(),
          std::to_string(expected_n) + " captions, one per image of images.npy", std::to_string(out.size()));
  return out;
}

void save_captions(const fs::path& dir, const std::vector<std::string>& captions) {
  std::string text;
  for (const std::string& c : captions) text += io::Json({{"caption", c}}).dump() + "\n";
  core::write_file_atomic(dir / kCaptions, text);
}

std::map<std::string, std::string> read_caption_map(const fs::path& path) {
  const std::string text = core::read_file(path);
  const std::string where = path.string();
  const size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  const std::string ext = path.extension().string();
  std::map<std::string, std::string> out;
  auto add = [&](const std::string& at, const std::string& file, const std::string& caption) {
    check(!file.empty(), at, "a file name", "an empty one");
    check(!caption.empty(), at, "a non-empty caption", "an empty one");
    check(out.emplace(fs::path(file).lexically_normal().generic_string(), caption).second, at,
          "each file once", "'" + file.substr(0, 60) + "' again");
  };
  if (ext == ".jsonl" || ext == ".ndjson" || (ext != ".csv" && first != std::string::npos && text[first] == '{')) {
    for_each_json_line(text, where, [&](const io::Json& j, const std::string& at) {
      std::string fk, ck;
      for (const char* k : {"file", "file_name", "image", "path"})
        if (fk.empty() && j.contains(k)) fk = k;
      for (const char* k : {"caption", "text", "prompt"})
        if (ck.empty() && j.contains(k)) ck = k;
      check(!fk.empty() && j[fk].is_string(), at, "a string \"file\" (or file_name, image, path)",
            fk.empty() ? "none" : j[fk].dump().substr(0, 40));
      check(!ck.empty() && j[ck].is_string(), at, "a string \"caption\" (or text, prompt)",
            ck.empty() ? "none" : j[ck].dump().substr(0, 40));
      add(at, j[fk].get<std::string>(), j[ck].get<std::string>());
    });
  } else {
    const io::CsvRows rows = io::parse_csv(text, where);
    check(!rows.empty(), where, "a CSV header naming a file and a caption column", "an empty file");
    const std::string fc = column(rows[0], {"file", "file_name", "image", "path"});
    const std::string cc = column(rows[0], {"caption", "text", "prompt"});
    std::string header;
    for (const auto& h : rows[0]) header += (header.empty() ? "" : ",") + h;
    check(!fc.empty() && !cc.empty(), where,
          "a header naming a file (file, file_name, image, path) and a caption (caption, text, prompt) column",
          "'" + header.substr(0, 80) + "'");
    const size_t fi = static_cast<size_t>(std::find(rows[0].begin(), rows[0].end(), fc) - rows[0].begin());
    const size_t ci = static_cast<size_t>(std::find(rows[0].begin(), rows[0].end(), cc) - rows[0].begin());
    for (size_t r = 1; r < rows.size(); ++r) {
      const std::string at = where + ": record " + std::to_string(r);
      check(fi < rows[r].size() && ci < rows[r].size(), at, std::to_string(rows[0].size()) + " fields",
            std::to_string(rows[r].size()));
      add(at, rows[r][fi], rows[r][ci]);
    }
  }
  check(!out.empty(), where, "at least one caption", "none");
  return out;
}

std::string generated_caption(const std::string& class_name, uint64_t seed, int64_t id) {
  core::Rng rng(core::derive_seed(seed, static_cast<uint64_t>(id)));
  const std::string& look = pick(kLooks, rng);
  const std::string& pattern = pick(kPatterns, rng);
  const std::string& setting = pick(kSettings, rng);
  return "a " + look + " " + pattern + " " + class_name + " " + setting;
}

std::string varied_caption(const std::string& caption, uint64_t seed, int64_t id, int64_t copy) {
  core::Rng rng(core::derive_seed(core::derive_seed(seed, static_cast<uint64_t>(id)), static_cast<uint64_t>(copy)));
  const size_t a = static_cast<size_t>(rng.next_u64() % kVariations.size());
  const size_t b = (a + 1 + static_cast<size_t>(rng.next_u64() % (kVariations.size() - 1))) % kVariations.size();
  return caption + ", " + kVariations[a] + ", " + kVariations[b];
}

int64_t write_caption_prompts(const Dataset& ds, const fs::path& dir) {
  check(ds.captions.has_value(), "--data", "a captioned data set (captions.jsonl)", "no captions.jsonl");
  std::map<int64_t, int64_t> count, first;
  for (int64_t r = 0; r < ds.size(); ++r) {
    const int64_t id = ds.ids[static_cast<size_t>(r)];
    if (count[id]++ == 0) first[id] = r;
  }
  fs::create_directories(dir / "images");
  std::string csv = std::string("id,prompt,duplicates,planted") + (ds.members ? ",member" : "") + ",train_image\n";
  for (const auto& [id, r] : first) {
    const std::string png = "images/" + std::to_string(id) + ".png";
    io::HostArray img = io::HostArray::zeros(io::DType::kU8, {ds.height(), ds.width(), ds.channels()});
    std::copy(ds.image(r), ds.image(r) + ds.image_bytes(), img.bytes.begin());
    io::write_png(dir / png, img);
    csv += std::to_string(id) + "," + io::csv_field((*ds.captions)[static_cast<size_t>(r)]) + "," +
           std::to_string(count[id]) + "," +
           (count[id] > 1 && (!ds.members || (*ds.members)[static_cast<size_t>(r)]) ? "1" : "0") +
           (ds.members ? std::string(",") + ((*ds.members)[static_cast<size_t>(r)] ? "1" : "0") : "") + "," + png + "\n";
  }
  core::write_file_atomic(dir / "prompts.csv", csv);
  return static_cast<int64_t>(first.size());
}

std::string caption_class_name(const std::string& source, const std::string& class_name) {
  if (source == "fashion-mnist") {
    if (class_name == "T-shirt/top") return "t-shirt";
    if (class_name == "Trouser") return "pair of trousers";
  }
  if (source == "mnist") return "handwritten digit " + class_name;
  return lower(class_name);
}

}  // namespace diffmem::data
