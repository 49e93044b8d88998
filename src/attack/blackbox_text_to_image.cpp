#include "diffmem/attack/blackbox_text_to_image.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>

#include "diffmem/attack/blackbox_prompts.h"
#include "diffmem/attack/screen.h"
#include "diffmem/core/content_hash.h"
#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/runtime.h"
#include "diffmem/diffusion/sd_pipeline.h"

namespace diffmem::attack {
namespace fs = std::filesystem;
using io::Json;

namespace {

bool screened(const TextToImageBlackboxOptions& o) { return o.screen_top > 0 || o.screen_threshold.has_value(); }

ScreenOptions screen_options(const TextToImageBlackboxOptions& o) {
  ScreenOptions s;
  s.model = o.model;
  s.prompts = o.prompts;
  s.label = o.label;
  s.per_prompt = o.screen_per_prompt;
  s.seed = o.seed;
  s.pipeline = o.pipeline;
  s.probe = o.probe;
  return s;
}

// What the generated images depend on besides the prompt and the seeds: the pipeline's files (by
// name and content, not by the folder's path, so a moved run keeps its cache) and the sampling
// options (the batch changes them by float rounding only).
Json model_identity(const TextToImageBlackboxOptions& o) {
  std::vector<std::pair<std::string, fs::path>> found;
  std::error_code ec;
  const fs::path root(o.model);
  if (fs::is_regular_file(root, ec)) found.emplace_back(root.filename().string(), root);  // a single-file checkpoint
  if (fs::is_regular_file(root / "model_index.json", ec)) found.emplace_back("model_index.json", root / "model_index.json");
  for (const char* part : {"unet", "vae", "text_encoder", "tokenizer", "scheduler"})
    for (const auto& e : fs::directory_iterator(root / part, ec))
      if (e.is_regular_file()) found.emplace_back(std::string(part) + "/" + e.path().filename().string(), e.path());
  std::sort(found.begin(), found.end());
  Json files = Json::array();
  for (const auto& [name, path] : found) files.push_back({name, core::hex64(core::fnv1a_file(path))});
  Json pipeline = o.pipeline;
  pipeline.erase("batch");
  return {{"files", files}, {"pipeline", pipeline}, {"negative_prompt", o.negative_prompt}};
}

/// Generates groups' images with the pipeline, several groups per call when per_prompt is below
/// the batch, keeping only the groups not yet handed out.
class PipelineSource : public GroupImageSource {
 public:
  PipelineSource(const diffusion::SdPipeline& pipe, const std::vector<BlackboxGroupInput>& groups,
                 const std::vector<int64_t>& rows, const TextToImageBlackboxOptions& o, const ProgressFn& progress)
      : pipe_(pipe), groups_(groups), rows_(rows), o_(o), progress_(progress),
        per_image_(pipe.unet_images_per_image(o.pipeline)) {}

  GroupImages images(size_t index, const std::vector<size_t>& upcoming) override {
    if (!ready_.count(index)) make(index, upcoming);
    GroupImages g = std::move(ready_.at(index));
    ready_.erase(index);
    return g;
  }

  Json tally() const override {
    return {{"kind", "native text-to-image pipeline (streamed, no image files)"},
            {"groups_generated", groups_made_},
            {"images", images_made_},
            {"unet_images", images_made_ * per_image_},
            {"unet_images_per_image", per_image_},
            {"calls", calls_},
            {"timing", {{"seconds", seconds_}}}};
  }

  int64_t unet_images() const { return images_made_ * per_image_; }

  void absorb(const Json& t) override {
    groups_made_ += t.at("groups_generated").get<int64_t>();
    images_made_ += t.at("images").get<int64_t>();
    calls_ += t.at("calls").get<int64_t>();
    seconds_ += t.at("timing").at("seconds").get<double>();
  }

  size_t groups_per_call() const override {
    return static_cast<size_t>(std::max<int64_t>(1, (o_.pipeline.batch + o_.per_prompt - 1) / o_.per_prompt));
  }

 private:
  void make(size_t index, const std::vector<size_t>& upcoming) {
    std::vector<size_t> take{index};
    for (size_t u : upcoming) {
      if (static_cast<int64_t>(take.size()) * o_.per_prompt >= o_.pipeline.batch) break;
      take.push_back(u);
    }
    std::vector<std::string> prompts, negative;
    std::vector<uint64_t> seeds;
    for (size_t g : take)
      for (int64_t j = 0; j < o_.per_prompt; ++j) {
        prompts.push_back(groups_[g].prompt);
        seeds.push_back(o_.seed + static_cast<uint64_t>(rows_[g] * o_.per_prompt + j));
      }
    if (!o_.negative_prompt.empty()) negative.assign(prompts.size(), o_.negative_prompt);
    const auto t0 = std::chrono::steady_clock::now();
    const torch::Tensor all = pipe_.generate(prompts, seeds, o_.pipeline, negative, progress_);
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++calls_;
    for (size_t k = 0; k < take.size(); ++k) {
      GroupImages g;
      const int64_t from = static_cast<int64_t>(k) * o_.per_prompt;
      g.images = all.slice(0, from, from + o_.per_prompt).contiguous();
      for (int64_t j = 0; j < o_.per_prompt; ++j) g.labels.push_back("seed " + std::to_string(seeds[from + j]));
      ready_[take[k]] = std::move(g);
      ++groups_made_;
    }
    images_made_ += static_cast<int64_t>(prompts.size());
  }

  const diffusion::SdPipeline& pipe_;
  const std::vector<BlackboxGroupInput>& groups_;
  const std::vector<int64_t>& rows_;
  const TextToImageBlackboxOptions& o_;
  ProgressFn progress_;
  int64_t per_image_ = 0, images_made_ = 0, groups_made_ = 0, calls_ = 0;
  double seconds_ = 0;
  std::map<size_t, GroupImages> ready_;
};

Json ratio_or_null(double num, double den) { return den > 0 ? Json(num / den) : Json(nullptr); }

// Over every prompt in the file (a prompt not generated counts as not flagged): precision and
// recall of the flagged prompts against the labels, and the flagged prompts whose clique's medoid
// is within delta of the prompt's own training image (extracted), per duplicates count too.
Json extraction_summary(const std::vector<PromptEntry>& prompts, const std::map<std::string, const GroupAnalysis*>& rows) {
  const bool labeled = !prompts.empty() && prompts[0].label >= 0;
  const bool images = std::any_of(prompts.begin(), prompts.end(), [](const PromptEntry& p) { return !p.train_image.empty(); });
  if (!labeled && !images) return nullptr;
  int64_t tp = 0, flagged = 0, pos = 0, extracted = 0, extracted_pos = 0, with_image = 0;
  struct Count { int64_t prompts = 0, flagged = 0, extracted = 0; };
  std::map<int64_t, Count> by_count;
  for (const PromptEntry& p : prompts) {
    const auto it = rows.find(p.id);
    const bool f = it != rows.end() && it->second->flagged;
    const bool x = f && it->second->within_delta;
    flagged += f;
    tp += f && p.label == 1;
    pos += p.label == 1;
    extracted += x;
    extracted_pos += x && p.label == 1;
    with_image += !p.train_image.empty();
    if (p.duplicates >= 0) {
      Count& c = by_count[p.duplicates];
      c.prompts += 1;
      c.flagged += f;
      c.extracted += x;
    }
  }
  Json per = Json::array();
  for (const auto& [count, c] : by_count)
    per.push_back({{"duplicates", count}, {"prompts", c.prompts}, {"flagged", c.flagged}, {"extracted", c.extracted},
                   {"rate", ratio_or_null(static_cast<double>(c.flagged), static_cast<double>(c.prompts))}});
  Json j = {{"prompts", prompts.size()},
            {"flagged", flagged},
            {"with_train_image", with_image},
            {"extracted", extracted},
            {"by_duplicates", per}};
  if (labeled) {
    j["memorized"] = pos;
    j["true_positives"] = tp;
    j["precision"] = ratio_or_null(static_cast<double>(tp), static_cast<double>(flagged));
    j["recall"] = ratio_or_null(static_cast<double>(tp), static_cast<double>(pos));
    j["extracted_memorized"] = extracted_pos;
  }
  return j;
}

}  // namespace

void validate(const TextToImageBlackboxOptions& o) {
  check(!o.model.empty(), "--model", "a Stable Diffusion pipeline folder", "none");
  check(!o.prompts.empty(), "--prompts", "a prompts file naming the prompts to generate", "none");
  check(o.per_prompt >= 1, "--per-prompt", "at least 1", std::to_string(o.per_prompt));
  diffusion::validate(o.pipeline, "extract-blackbox options");
  check(o.screen_top >= 0, "--screen-top", "0 (no top-K selection) or more", std::to_string(o.screen_top));
  check(!o.screen_threshold || std::isfinite(*o.screen_threshold), "--screen-threshold", "a finite score",
        "not finite");
  check(o.screen_detector == "wen" || o.screen_detector == "anisotropy", "--screen-detector", "wen or anisotropy",
        "'" + o.screen_detector + "'");
  if (screened(o)) {
    validate(screen_options(o));
    check(o.screen_detector != "anisotropy" || o.probe.low_from_end > 0, "--screen-detector",
          "wen when --low-from-end is 0 (anisotropy needs the low-noise pass)", "anisotropy");
  }
  validate(o.run.analysis);
}

TextToImageBlackboxResult run_blackbox_text_to_image(const TextToImageBlackboxOptions& o, const fs::path& out,
                                                     const std::string& device, const ProgressFn& progress,
                                                     const dist::Communicator& comm) {
  std::vector<PromptEntry> prompts;
  std::unique_ptr<diffusion::SdPipeline> loaded;
  const auto t0 = std::chrono::steady_clock::now();
  dist::collectively(comm, [&] {
    validate(o);
    prompts = read_prompts(o.prompts, o.label);
    check(fs::exists(fs::path(o.model) / "model_index.json"), o.model,
          "a text-to-image pipeline folder (model_index.json)", "none there");
    loaded = std::make_unique<diffusion::SdPipeline>(
        diffusion::SdPipeline::load(o.model, torch::Device(core::resolve_device(device))));
    fs::create_directories(out);
  });
  const diffusion::SdPipeline& pipe = *loaded;

  TextToImageBlackboxResult r;
  r.prompts = static_cast<int64_t>(prompts.size());
  const int64_t per_image = pipe.unet_images_per_image(o.pipeline);
  r.unscreened_unet_images = r.prompts * o.per_prompt * per_image;

  // The screen picks the rows to generate (every row without one).
  std::vector<int64_t> rows(prompts.size());
  std::iota(rows.begin(), rows.end(), 0);
  Json screen = nullptr;
  if (screened(o)) {
    const ScreenResult s = run_screen(screen_options(o), pipe, out / "screen", progress, comm);
    r.screen_unet_images = s.unet_images;
    check(s.rows.size() == prompts.size(), o.prompts, std::to_string(prompts.size()) + " prompts for the screen",
          std::to_string(s.rows.size()));
    auto score = [&](int64_t i) {
      const ScreenRow& row = s.rows[static_cast<size_t>(i)];
      return o.screen_detector == "wen" ? row.wen : row.anisotropy;
    };
    std::stable_sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) { return score(a) > score(b); });
    if (o.screen_threshold)
      rows.erase(std::remove_if(rows.begin(), rows.end(), [&](int64_t i) { return !(score(i) >= *o.screen_threshold); }),
                 rows.end());
    if (o.screen_top > 0 && static_cast<int64_t>(rows.size()) > o.screen_top) rows.resize(static_cast<size_t>(o.screen_top));
    std::sort(rows.begin(), rows.end());
    Json picked = Json::array();
    for (int64_t i : rows) picked.push_back(prompts[static_cast<size_t>(i)].id);
    screen = {{"detector", o.screen_detector},
              {"top", o.screen_top},
              {"threshold", o.screen_threshold ? Json(*o.screen_threshold) : Json(nullptr)},
              {"selected", rows.size()},
              {"selected_ids", picked},
              {"unet_images", s.unet_images},
              {"timing", {{"seconds", s.seconds}}},
              {"detectors", s.summary.at("detectors")},
              {"files", (out / "screen").string()}};
  }

  const Json identity = model_identity(o);
  std::vector<BlackboxGroupInput> groups;
  for (int64_t i : rows) {
    const PromptEntry& p = prompts[static_cast<size_t>(i)];
    BlackboxGroupInput g;
    g.id = p.id;
    g.prompt = p.prompt;
    g.train_image = p.train_image;
    g.duplicates = p.duplicates;
    g.label = p.label;
    g.name = group_folder_name(p.id);
    g.generated = {{"identity", identity},
                   {"prompt", p.prompt},
                   {"first_seed", o.seed + static_cast<uint64_t>(i * o.per_prompt)},
                   {"count", o.per_prompt}};
    groups.push_back(std::move(g));
  }
  r.selected = static_cast<int64_t>(groups.size());
  PipelineSource source(pipe, groups, rows, o, progress);

  Json extra = {{"text_to_image", o}};
  r.run = run_blackbox(groups, out, o.run, extra, progress, &source, comm);
  if (comm.rank() != 0) return r;  // rank 0 writes what one process would
  r.generation_unet_images = source.unet_images();  // every rank's, absorbed by run_blackbox

  std::map<std::string, const GroupAnalysis*> analysed;
  for (const BlackboxRow& row : r.run.rows) analysed[row.input.id] = &row.analysis;
  // What this configuration costs from scratch (reused groups included), against no screen.
  const int64_t full = r.screen_unet_images + r.selected * o.per_prompt * per_image;
  Json& s = r.summary;
  s = io::read_json(out / "summary.json");
  s["cost"] = {{"unet_images_per_image", per_image},
               {"screen_unet_images", r.screen_unet_images},
               {"generation_unet_images_this_run", r.generation_unet_images},
               {"unet_images_from_scratch", full},
               {"unscreened_unet_images", r.unscreened_unet_images},
               {"saving", ratio_or_null(static_cast<double>(r.unscreened_unet_images), static_cast<double>(full))}};
  s["timing"]["seconds_with_screen"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s["prompts_in_file"] = r.prompts;
  s["screen"] = screen;
  s["extraction"] = extraction_summary(prompts, analysed);
  io::write_json(out / "summary.json", s);
  log::info("extract-blackbox: " + std::to_string(r.selected) + " of " + std::to_string(r.prompts) +
            " prompts generated and filtered, " + std::to_string(r.run.flagged) + " flagged");
  return r;
}

}  // namespace diffmem::attack
