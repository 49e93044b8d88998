#include "diffmem/attack/blackbox_run.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <future>

#include <numeric>

#include "blackbox_files.h"
#include "diffmem/core/error.h"

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

// The reusable results of generated groups (what they depend on is known without their images),
// and the generated groups that need making, in order.
struct Scan {
  std::vector<Json> cached;
  std::vector<size_t> pending;
};

Scan scan_generated(const std::vector<BlackboxGroupInput>& inputs, const fs::path& out,
                    const BlackboxOptions& analysis, bool reuse, const GroupImageSource* source) {
  Scan s;
  s.cached.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const BlackboxGroupInput& in = inputs[i];
    if (in.generated.is_null()) continue;
    check(source != nullptr, "run_blackbox", "an image source for generated group '" + in.id + "'", "none");
    const fs::path cache = out / "groups" / (in.name + ".json");
    if (reuse && fs::exists(cache)) {
      Json j = io::read_json(cache);
      const bool flagged = j.contains("analysis") && j["analysis"].value("flagged", false);
      const bool files = !flagged || (fs::exists(out / "flagged" / (in.name + ".png")) &&
                                      fs::exists(out / "flagged" / (in.name + ".npy")));
      if (j.value("signature", Json()) == detail::generated_signature(in, analysis) && files)
        s.cached[i] = std::move(j);
    }
    if (s.cached[i].is_null()) s.pending.push_back(i);
  }
  return s;
}

// Each group of `todo` (increasing indices): its result reused from out/groups/<name>.json, or
// made and written there, with its grid (and, generated, its clique) when flagged. Rows in `todo`
// order.
std::vector<BlackboxRow> run_groups(const std::vector<BlackboxGroupInput>& inputs, const std::vector<size_t>& todo,
                                    const Scan& scan, const fs::path& out, const BlackboxRunOptions& options,
                                    GroupImageSource* source, const ProgressFn& progress) {
  std::vector<BlackboxRow> rows;
  int64_t flagged = 0;
  std::vector<size_t> pending;  // the generated groups of todo to make, in order
  for (size_t i : todo)
    if (!inputs[i].generated.is_null() && scan.cached[i].is_null()) pending.push_back(i);
  ProgressMeter meter(progress, "filter", static_cast<int64_t>(todo.size()), "groups");
  size_t next_pending = 0;
  // Folder groups are read one ahead: the next group's files decode on another thread while
  // this group's distances run (bench/blackbox_bench.cpp measures the overlap).
  std::future<detail::Loaded> ahead;
  size_t ahead_index = inputs.size();
  const auto load_ahead = [&](size_t j) {
    if (j >= inputs.size() || !inputs[j].generated.is_null()) return;
    ahead_index = j;
    ahead = std::async(std::launch::async, [&inputs, &options, j] {
      return detail::load_group(inputs[j], options.analysis);
    });
  };
  for (size_t t = 0; t < todo.size(); ++t) {
    const size_t i = todo[t];
    const BlackboxGroupInput& in = inputs[i];
    BlackboxRow row;
    row.input = in;
    const fs::path cache = out / "groups" / (in.name + ".json");
    const fs::path grid = out / "flagged" / (in.name + ".png");
    const bool generated = !in.generated.is_null();
    detail::Loaded l;
    if (generated && !scan.cached[i].is_null()) {
      row.analysis = detail::analysis_from_json(scan.cached[i].at("analysis"));
      row.labels = scan.cached[i].value("labels", std::vector<std::string>{});
      row.reused = true;
      if (row.analysis.flagged) row.grid_png = grid;
    } else {
      if (generated) {
        while (next_pending < pending.size() && pending[next_pending] <= i) ++next_pending;
        GroupImages g = source->images(
            i, std::vector<size_t>(pending.begin() + static_cast<std::ptrdiff_t>(next_pending), pending.end()));
        l.images = to_working_size(g.images, options.analysis);
        l.labels = std::move(g.labels);
        l.signature = detail::generated_signature(in, options.analysis);
      } else {
        l = ahead.valid() && ahead_index == i ? ahead.get() : detail::load_group(in, options.analysis);
        if (options.read_ahead && t + 1 < todo.size()) load_ahead(todo[t + 1]);
      }
      row.labels = l.labels;
      torch::Tensor train;
      if (!in.train_image.empty() && l.images.size(0) > 0)
        train = read_working_image(in.train_image, l.images.size(1), l.images.size(2), l.images.size(3));
      if (!generated && options.reuse && fs::exists(cache)) {
        const Json j = io::read_json(cache);
        if (j.value("signature", Json()) == l.signature) {
          row.analysis = detail::analysis_from_json(j.at("analysis"));
          row.reused = true;
        }
      }
      if (!row.reused) row.analysis = analyze_group(l.images, options.analysis, train);
      if (row.analysis.flagged) {
        row.grid_png = grid;
        if (!row.reused || !fs::exists(grid))
          detail::write_grid(grid, l.images, row.analysis.cliques[0], train, options.grid_members);
        // Generated images exist nowhere else: keep the clique's, medoid first.
        if (generated) detail::write_clique_npy(out / "flagged" / (in.name + ".npy"), l.images, row.analysis.cliques[0]);
      }
      if (!row.reused) {
        Json j = {{"id", in.id}, {"signature", l.signature}, {"analysis", detail::analysis_json(row.analysis)}};
        if (generated) j["labels"] = row.labels;
        io::write_json(cache, j);
      }
    }
    flagged += row.analysis.flagged ? 1 : 0;
    rows.push_back(std::move(row));
    meter.update(static_cast<int64_t>(rows.size()), std::to_string(flagged) + " flagged");
  }
  meter.finish(std::to_string(flagged) + " flagged");
  return rows;
}

// What rank 0 needs of another rank's rows (their inputs it has): index, result, labels, reuse.
std::string rows_bytes(const std::vector<BlackboxRow>& rows, const std::vector<size_t>& todo) {
  Json j = Json::array();
  for (size_t t = 0; t < rows.size(); ++t)
    j.push_back({{"index", todo[t]},
                 {"analysis", detail::analysis_json(rows[t].analysis)},
                 {"labels", rows[t].labels},
                 {"grid", rows[t].grid_png.string()},
                 {"reused", rows[t].reused}});
  return j.dump();
}

}  // namespace

BlackboxRunResult run_blackbox(const std::vector<BlackboxGroupInput>& groups, const fs::path& out,
                               const BlackboxRunOptions& options, const Json& extra,
                               const ProgressFn& progress, GroupImageSource* source, const dist::Communicator& comm) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<BlackboxGroupInput> inputs = groups;
  for (BlackboxGroupInput& in : inputs)
    if (in.name.empty()) in.name = group_folder_name(in.id);
  Scan scan;
  // Every rank scans before any writes, so all of them split the same pending groups.
  dist::collectively(comm, [&] {
    validate(options.analysis);
    fs::create_directories(out / "groups");
    scan = scan_generated(inputs, out, options.analysis, options.reuse, source);
  });
  std::vector<size_t> todo;  // the groups this rank runs
  Json tally;                // the source's (rank 0's with every rank's absorbed)
  if (comm.size() == 1) {
    todo.resize(inputs.size());
    std::iota(todo.begin(), todo.end(), 0);
  } else {
    // Generated groups to make by the source's calls (call c on rank c % size: each is made in
    // the batch one process would make it in), folder groups round robin, reused generated
    // groups on rank 0.
    const size_t per_call = source ? std::max<size_t>(1, source->groups_per_call()) : 1;
    std::vector<int> owner(inputs.size(), 0);
    for (size_t k = 0; k < scan.pending.size(); ++k)
      owner[scan.pending[k]] = static_cast<int>((k / per_call) % static_cast<size_t>(comm.size()));
    size_t folder_groups = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].generated.is_null()) owner[i] = static_cast<int>(folder_groups++ % static_cast<size_t>(comm.size()));
      if (owner[i] == comm.rank()) todo.push_back(i);
    }
  }
  std::vector<BlackboxRow> rows;
  dist::collectively(comm, [&] { rows = run_groups(inputs, todo, scan, out, options, source, progress); });
  if (comm.size() > 1) {
    // Rank 0 gathers every rank's rows and generator tally, and writes the tables alone.
    const std::vector<std::string> parts = comm.all_gather(rows_bytes(rows, todo));
    const std::vector<std::string> tallies = comm.all_gather((source ? source->tally() : Json()).dump());
    if (comm.rank() != 0) {
      BlackboxRunResult part;
      part.rows = std::move(rows);
      return part;  // rank 0 holds the whole result
    }
    if (source)
      for (size_t r = 1; r < tallies.size(); ++r) source->absorb(Json::parse(tallies[r]));
    std::vector<BlackboxRow> all(inputs.size());
    for (const std::string& part : parts)
      for (const Json& j : Json::parse(part)) {
        BlackboxRow& row = all.at(j.at("index").get<size_t>());
        row.input = inputs[j.at("index").get<size_t>()];
        row.analysis = detail::analysis_from_json(j.at("analysis"));
        row.labels = j.at("labels").get<std::vector<std::string>>();
        row.grid_png = j.at("grid").get<std::string>();
        row.reused = j.at("reused").get<bool>();
      }
    rows = std::move(all);
  }
  if (source) tally = source->tally();

  BlackboxRunResult res;
  for (const BlackboxRow& row : rows) {
    res.images += row.analysis.images;
    res.flagged += row.analysis.flagged ? 1 : 0;
    res.within_delta += row.analysis.within_delta ? 1 : 0;
    res.reused += row.reused ? 1 : 0;
    if (!row.reused) res.analysis_seconds += row.analysis.seconds;
  }
  res.rows = std::move(rows);
  std::stable_sort(res.rows.begin(), res.rows.end(), detail::ranks_before);
  detail::write_csvs(out, res.rows);
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
  if (!tally.is_null()) summary["generator"] = tally;
  io::write_json(out / "summary.json", summary);
  return res;
}

}  // namespace diffmem::attack
