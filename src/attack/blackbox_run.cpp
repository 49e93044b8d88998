#include "diffmem/attack/blackbox_run.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <future>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/content_hash.h"
#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/io/csv.h"
#include "diffmem/data/generations.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::attack {
namespace fs = std::filesystem;
using io::Json;

std::vector<BlackboxGroupInput> groups_from_prompts(const std::vector<PromptEntry>& prompts,
                                                    const fs::path& images_root) {
  std::vector<BlackboxGroupInput> out;
  for (const PromptEntry& p : prompts) {
    BlackboxGroupInput g;
    g.id = p.id;
    g.prompt = p.prompt;
    g.train_image = p.train_image;
    g.duplicates = p.duplicates;
    g.name = group_folder_name(p.id);
    g.folder = images_root / g.name;
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<BlackboxGroupInput> groups_from_folder(const fs::path& root) {
  check(fs::is_directory(root), root.string(), "a folder with one sub-folder of images per prompt",
        fs::exists(root) ? "not a folder" : "no such folder");
  std::vector<BlackboxGroupInput> out;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.empty() || name[0] == '.') continue;
    BlackboxGroupInput g;
    g.id = name;
    g.name = group_folder_name(name);
    g.folder = e.path();
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  check(!out.empty(), root.string(), "at least one sub-folder of images", "none");
  return out;
}

std::vector<GeneratorTask> generator_tasks(const std::vector<PromptEntry>& prompts,
                                           const fs::path& images_root, int64_t per_prompt,
                                           uint64_t seed) {
  check(per_prompt >= 1, "--per-prompt", "at least 1", std::to_string(per_prompt));
  std::vector<GeneratorTask> tasks;
  for (const PromptEntry& p : prompts) {
    const fs::path dir = images_root / group_folder_name(p.id);
    for (int64_t i = 0; i < per_prompt; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "%06" PRIu64 ".png", seed + static_cast<uint64_t>(i));
      tasks.push_back({p.prompt, seed + static_cast<uint64_t>(i), dir / name});
    }
  }
  return tasks;
}

namespace {

struct Loaded {
  torch::Tensor images;  // [N,H,W,C] u8, working size
  std::vector<std::string> labels;
  Json signature;        // what the cached result depends on
};

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

double num_or_nan(const Json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }

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

// A flagged generated group's clique, medoid first, as [K,H,W,C] u8 (the images exist nowhere else).
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

std::string fmt(double v) {
  if (!std::isfinite(v)) return "";
  char b[32];
  std::snprintf(b, sizeof b, "%.6f", v);
  return b;
}

// flagged first, then tightest clique, then largest, then id; a one-image clique (NaN) is last.
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

std::string label_of(const BlackboxRow& r, int64_t i) {
  return i >= 0 && i < static_cast<int64_t>(r.labels.size()) ? r.labels[i] : "";
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

}  // namespace

BlackboxRunResult run_blackbox(const std::vector<BlackboxGroupInput>& groups, const fs::path& out,
                               const BlackboxRunOptions& options, const Json& extra,
                               const ProgressFn& progress, GroupImageSource* source) {
  validate(options.analysis);
  const auto t0 = std::chrono::steady_clock::now();
  fs::create_directories(out / "groups");
  BlackboxRunResult res;
  std::vector<BlackboxGroupInput> inputs = groups;
  for (BlackboxGroupInput& in : inputs)
    if (in.name.empty()) in.name = group_folder_name(in.id);

  // Generated groups: what a cached result depends on is known without the images, so the groups
  // that need making are known up front (and a source may make several in one batch).
  std::vector<Json> cached(inputs.size());
  std::vector<size_t> pending;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const BlackboxGroupInput& in = inputs[i];
    if (in.generated.is_null()) continue;
    check(source != nullptr, "run_blackbox", "an image source for generated group '" + in.id + "'", "none");
    const fs::path cache = out / "groups" / (in.name + ".json");
    if (options.reuse && fs::exists(cache)) {
      Json j = io::read_json(cache);
      const bool flagged = j.contains("analysis") && j["analysis"].value("flagged", false);
      const bool files = !flagged || (fs::exists(out / "flagged" / (in.name + ".png")) &&
                                      fs::exists(out / "flagged" / (in.name + ".npy")));
      if (j.value("signature", Json()) == generated_signature(in, options.analysis) && files)
        cached[i] = std::move(j);
    }
    if (cached[i].is_null()) pending.push_back(i);
  }

  ProgressMeter meter(progress, "filter", static_cast<int64_t>(inputs.size()), "groups");
  size_t next_pending = 0;
  // Folder groups are read one ahead: the next group's files decode on another thread while
  // this group's distances run (bench/blackbox_bench.cpp measures the overlap).
  std::future<Loaded> ahead;
  size_t ahead_index = inputs.size();
  const auto load_ahead = [&](size_t j) {
    if (j >= inputs.size() || !inputs[j].generated.is_null()) return;
    ahead_index = j;
    ahead = std::async(std::launch::async, [&inputs, &options, j] {
      return load_group(inputs[j], options.analysis);
    });
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    const BlackboxGroupInput& in = inputs[i];
    BlackboxRow row;
    row.input = in;
    const fs::path cache = out / "groups" / (in.name + ".json");
    const fs::path grid = out / "flagged" / (in.name + ".png");
    const bool generated = !in.generated.is_null();
    Loaded l;
    if (generated && !cached[i].is_null()) {
      row.analysis = analysis_from_json(cached[i].at("analysis"));
      row.labels = cached[i].value("labels", std::vector<std::string>{});
      row.reused = true;
      ++res.reused;
      if (row.analysis.flagged) row.grid_png = grid;
    } else {
      if (generated) {
        while (next_pending < pending.size() && pending[next_pending] <= i) ++next_pending;
        GroupImages g = source->images(
            i, std::vector<size_t>(pending.begin() + static_cast<std::ptrdiff_t>(next_pending), pending.end()));
        l.images = to_working_size(g.images, options.analysis);
        l.labels = std::move(g.labels);
        l.signature = generated_signature(in, options.analysis);
      } else {
        l = ahead.valid() && ahead_index == i ? ahead.get() : load_group(in, options.analysis);
        if (options.read_ahead) load_ahead(i + 1);
      }
      row.labels = l.labels;
      torch::Tensor train;
      if (!in.train_image.empty() && l.images.size(0) > 0)
        train = read_working_image(in.train_image, l.images.size(1), l.images.size(2), l.images.size(3));
      if (!generated && options.reuse && fs::exists(cache)) {
        const Json j = io::read_json(cache);
        if (j.value("signature", Json()) == l.signature) {
          row.analysis = analysis_from_json(j.at("analysis"));
          row.reused = true;
          ++res.reused;
        }
      }
      if (!row.reused) {
        row.analysis = analyze_group(l.images, options.analysis, train);
        res.analysis_seconds += row.analysis.seconds;
      }
      if (row.analysis.flagged) {
        row.grid_png = grid;
        if (!row.reused || !fs::exists(grid))
          write_grid(grid, l.images, row.analysis.cliques[0], train, options.grid_members);
        // Generated images exist nowhere else: keep the clique's, medoid first.
        if (generated) write_clique_npy(out / "flagged" / (in.name + ".npy"), l.images, row.analysis.cliques[0]);
      }
      if (!row.reused) {
        Json j = {{"id", in.id}, {"signature", l.signature}, {"analysis", analysis_json(row.analysis)}};
        if (generated) j["labels"] = row.labels;
        io::write_json(cache, j);
      }
    }
    res.images += row.analysis.images;
    res.flagged += row.analysis.flagged ? 1 : 0;
    res.within_delta += row.analysis.within_delta ? 1 : 0;
    res.rows.push_back(std::move(row));
    meter.update(static_cast<int64_t>(res.rows.size()), std::to_string(res.flagged) + " flagged");
  }
  meter.finish(std::to_string(res.flagged) + " flagged");
  std::stable_sort(res.rows.begin(), res.rows.end(), ranks_before);
  write_csvs(out, res.rows);

  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t analysed = static_cast<int64_t>(groups.size()) - res.reused;
  Json flagged = Json::array();
  for (const BlackboxRow& r : res.rows)
    if (r.analysis.flagged) flagged.push_back(r.input.id);
  Json summary = {{"attack", "black-box generate-and-filter (Carlini et al. 2023, section 4.2)"},
                  {"options", options},
                  {"groups", groups.size()},
                  {"images", res.images},
                  {"flagged", res.flagged},
                  {"within_delta", res.within_delta},
                  {"flagged_ids", flagged},
                  {"timing",
                   {{"reused_groups", res.reused},
                    {"seconds", res.seconds},
                    {"filter_seconds", res.analysis_seconds},
                    {"filter_seconds_per_group", analysed > 0 ? res.analysis_seconds / analysed : 0.0}}}};
  for (auto it = extra.begin(); it != extra.end(); ++it) summary[it.key()] = it.value();
  if (source && !source->tally().is_null()) summary["generator"] = source->tally();
  io::write_json(out / "summary.json", summary);
  return res;
}

}  // namespace diffmem::attack
