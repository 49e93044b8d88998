// The files of a black-box run's groups: cached results, grids, cliques, the ranked CSVs.
#include "blackbox_files.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/content_hash.h"
#include "diffmem/core/log.h"
#include "diffmem/data/generations.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::attack::detail {
namespace fs = std::filesystem;
using io::Json;

namespace {

// What a group's result depends on of its training image: its bytes (not its path, so a moved
// run keeps its cache).
Json train_signature(const BlackboxGroupInput& g) {
  if (g.train_image.empty()) return nullptr;
  std::error_code ec;
  if (!fs::is_regular_file(g.train_image, ec)) return "missing";
  return core::hex64(core::fnv1a_file(g.train_image));
}

// The group's images as compared (working size), by content.
std::string images_hash(const torch::Tensor& images) {
  const torch::Tensor c = images.contiguous();
  return core::hex64(core::fnv1a(c.data_ptr(), static_cast<size_t>(c.numel())));
}

double num_or_nan(const Json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }

std::string fmt(double v) {
  if (!std::isfinite(v)) return "";
  char b[32];
  std::snprintf(b, sizeof b, "%.6f", v);
  return b;
}

std::string label_of(const BlackboxRow& r, int64_t i) {
  return i >= 0 && i < static_cast<int64_t>(r.labels.size()) ? r.labels[i] : "";
}

}  // namespace


Loaded load_group(const BlackboxGroupInput& g, const BlackboxOptions& o) {
  Loaded l;
  Json files = Json::array();
  if (!g.shards.empty()) {
    const data::Generations gen = data::load_generations(g.shards);
    l.images = to_working_size(io::to_tensor(gen.images), o);
    for (int64_t i = 0; i < l.images.size(0); ++i) l.labels.push_back("#" + std::to_string(i));
  } else if (!fs::is_directory(g.folder)) {
    log::warn(g.folder.string() + ": no such folder; group '" + g.id + "' has no images");
    l.images = torch::empty({0, 1, 1, 3}, torch::kByte);
  } else {
    LoadedGroup lg = load_image_folder(g.folder, o);
    l.images = lg.images;
    l.labels = std::move(lg.labels);
    for (const auto& f : lg.files) files.push_back(f.filename().string());
  }
  l.signature = {{"files", files},
                 {"images", images_hash(l.images)},
                 {"train_image", train_signature(g)},
                 {"options", o}};
  return l;
}

Json analysis_json(const GroupAnalysis& a) {
  Json cliques = Json::array();
  for (const CliqueFinding& c : a.cliques)
    cliques.push_back({{"members", c.members}, {"mean_distance", c.mean_distance},
                       {"medoid", c.medoid}, {"flagged", c.flagged}});
  return {{"images", a.images},   {"edges", a.edges},   {"cliques", cliques},
          {"flagged", a.flagged}, {"train_l2", a.train_l2}, {"within_delta", a.within_delta},
          {"timing", {{"seconds", a.seconds}}}};
}

GroupAnalysis analysis_from_json(const Json& j) {
  GroupAnalysis a;
  a.images = j.at("images").get<int64_t>();
  a.edges = j.at("edges").get<int64_t>();
  for (const Json& c : j.at("cliques")) {
    CliqueFinding f;
    f.members = c.at("members").get<std::vector<int64_t>>();
    f.mean_distance = num_or_nan(c.at("mean_distance"));
    f.medoid = c.at("medoid").get<int64_t>();
    f.flagged = c.at("flagged").get<bool>();
    a.cliques.push_back(std::move(f));
  }
  a.flagged = j.at("flagged").get<bool>();
  a.train_l2 = num_or_nan(j.at("train_l2"));
  a.within_delta = j.at("within_delta").get<bool>();
  a.seconds = j.at("timing").at("seconds").get<double>();
  return a;
}

void write_grid(const fs::path& path, const torch::Tensor& images, const CliqueFinding& c,
                const torch::Tensor& train, int64_t members) {
  std::vector<torch::Tensor> tiles{images[c.medoid]};
  for (int64_t m : c.members) {
    if (static_cast<int64_t>(tiles.size()) > members) break;
    if (m != c.medoid) tiles.push_back(images[m]);
  }
  if (train.defined()) tiles.push_back(train);
  const torch::Tensor stack = torch::stack(tiles).contiguous();
  const int cols = static_cast<int>(std::min<int64_t>(8, stack.size(0)));
  io::write_png(path, io::make_grid(io::from_tensor(stack), cols));
}

void write_clique_npy(const fs::path& path, const torch::Tensor& images, const CliqueFinding& c) {
  std::vector<int64_t> order{c.medoid};
  for (int64_t m : c.members)
    if (m != c.medoid) order.push_back(m);
  const torch::Tensor picked = images.index_select(0, torch::tensor(order, torch::kLong)).contiguous();
  io::write_npy(path, io::from_tensor(picked));
}

Json generated_signature(const BlackboxGroupInput& g, const BlackboxOptions& o) {
  return {{"generated", g.generated}, {"train_image", train_signature(g)}, {"options", o}};
}

// A one-image clique (NaN distance) ranks last among the unflagged.
bool ranks_before(const BlackboxRow& a, const BlackboxRow& b) {
  const bool fa = a.analysis.flagged, fb = b.analysis.flagged;
  if (fa != fb) return fa;
  const double ma = a.analysis.cliques.empty() ? NAN : a.analysis.cliques[0].mean_distance;
  const double mb = b.analysis.cliques.empty() ? NAN : b.analysis.cliques[0].mean_distance;
  if (std::isnan(ma) != std::isnan(mb)) return !std::isnan(ma);
  if (!std::isnan(ma) && ma != mb) return ma < mb;
  const size_t sa = a.analysis.cliques.empty() ? 0 : a.analysis.cliques[0].members.size();
  const size_t sb = b.analysis.cliques.empty() ? 0 : b.analysis.cliques[0].members.size();
  if (sa != sb) return sa > sb;
  return a.input.id < b.input.id;
}

void write_csvs(const fs::path& out, const std::vector<BlackboxRow>& rows) {
  std::string p =
      "rank,id,prompt,generations,largest_clique,mean_clique_distance,flagged,medoid,"
      "train_l2_to_medoid,within_delta,duplicates,grid_png\n";
  std::string c = "id,clique,size,mean_distance,flagged,medoid,members\n";
  for (size_t k = 0; k < rows.size(); ++k) {
    const BlackboxRow& r = rows[k];
    const GroupAnalysis& a = r.analysis;
    const bool has = !a.cliques.empty();
    const bool train = a.train_l2 >= 0;
    p += std::to_string(k + 1) + "," + io::csv_field(r.input.id) + "," + io::csv_field(r.input.prompt) + "," +
         std::to_string(a.images) + "," + (has ? std::to_string(a.cliques[0].members.size()) : "0") +
         "," + (has ? fmt(a.cliques[0].mean_distance) : "") + "," + (a.flagged ? "1" : "0") + "," +
         io::csv_field(has ? label_of(r, a.cliques[0].medoid) : "") + "," + (train ? fmt(a.train_l2) : "") +
         "," + (train ? (a.within_delta ? "1" : "0") : "") + "," +
         (r.input.duplicates >= 0 ? std::to_string(r.input.duplicates) : "") + "," +
         io::csv_field(r.grid_png.empty() ? "" : fs::relative(r.grid_png, out).string()) + "\n";
    for (size_t q = 0; q < a.cliques.size(); ++q) {
      const CliqueFinding& f = a.cliques[q];
      std::string members;
      for (int64_t m : f.members) members += (members.empty() ? "" : " ") + label_of(r, m);
      c += io::csv_field(r.input.id) + "," + std::to_string(q + 1) + "," + std::to_string(f.members.size()) +
           "," + fmt(f.mean_distance) + "," + (f.flagged ? "1" : "0") + "," +
           io::csv_field(label_of(r, f.medoid)) + "," + io::csv_field(members) + "\n";
    }
  }
  core::write_file_atomic(out / "prompts.csv", p);
  core::write_file_atomic(out / "cliques.csv", c);
}

}  // namespace diffmem::attack::detail
