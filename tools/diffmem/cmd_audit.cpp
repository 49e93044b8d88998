// `diffmem audit`: data → train → sample → extract → screen → blackbox → mia → inpaint → report in one run
// directory; every stage is skipped when its output is complete, so rerunning resumes.
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "flags.h"
#include "ranks.h"
#include "diffmem/pipeline/audit.h"
#include "diffmem/core/error.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/io/json.h"

namespace {
using namespace diffmem;
namespace fs = std::filesystem;
using io::Json;

struct Args {
  std::string run, config, from;
  bool print_config = false;
  std::unique_ptr<cli::ConfigFlags> flags;  // set over the options file
};

std::string stage_line(const pipeline::StageEvent& e) {
  char head[64];
  std::snprintf(head, sizeof head, "[%d/%d] %-8s ", e.index, e.total, e.stage.c_str());
  using K = pipeline::StageEvent::Kind;
  switch (e.kind) {
    case K::kStart: return std::string(head) + "running";
    case K::kSkip: return std::string(head) + "done already: " + e.detail;
    case K::kNotRun: return std::string(head) + "not run: " + e.detail;
    case K::kDone: {
      char t[32];
      std::snprintf(t, sizeof t, " (%.1f s)", e.seconds);
      return std::string(head) + "done: " + e.detail + t;
    }
  }
  return head;
}

void run(Args& a) {
  cli::start();
  const fs::path run = a.run;
  // Base: --config, else the options this run directory was started with, else the defaults.
  Json file = Json::object();
  std::string where = "defaults";
  if (!a.config.empty()) {
    file = cli::read_config(a.config);
    where = a.config;
  } else if (fs::is_regular_file(run / "audit.json")) {
    file = cli::read_config(run / "audit.json");
    where = (run / "audit.json").string();
  }
  Json flags = a.flags->given();
  flags["device"] = cli::globals().device;
  pipeline::AuditOptions o = pipeline::audit_options_from_json(file, where, flags);
  // Stored absolute, so the run's audit.json means the same from any working directory.
  if (!o.data.empty()) o.data = fs::absolute(o.data).lexically_normal().string();
  if (!o.model.empty()) o.model = fs::absolute(o.model).lexically_normal().string();
  if (!o.prompts.empty()) o.prompts = fs::absolute(o.prompts).lexically_normal().string();
  if (a.print_config) {
    if (cli::prints()) std::printf("%s\n", pipeline::to_json(o).dump(2).c_str());
    return;
  }
  if (cli::prints())
    std::printf("audit of %s in %s (options: %s)\n",
                o.model.empty() ? "a model trained here" : o.model.c_str(), run.c_str(), where.c_str());
  std::fflush(stdout);
  auto on_stage = [](const pipeline::StageEvent& e) {
    std::printf("%s\n", stage_line(e).c_str());
    std::fflush(stdout);
  };
  const cli::JobLock lock(run, "--run");  // one run per folder
  const auto r = pipeline::run_audit(run, o, a.from, on_stage, cli::terminal_progress(), cli::ranks());
  if (!cli::prints()) return;
  std::printf("audit: %zu stage(s) ran, %zu complete already, %zu not applicable, %.1f s\n",
              r.ran.size(), r.skipped.size(), r.not_run.size(), r.seconds);
  std::printf("report: %s\n", r.paths.report.c_str());
}

}  // namespace

DIFFMEM_COMMAND(900) {
  auto a = std::make_shared<Args>();
  std::string stages;
  for (auto& s : pipeline::audit_stages()) stages += (stages.empty() ? "" : ", ") + s;
  auto* sub = app.add_subcommand(
      "audit",
      "The whole pipeline in one run directory (" + stages +
          "); rerun the same command to resume, --from STAGE to redo a stage and what follows");
  sub->add_option("--run", a->run, "Run directory (created; holds every output and audit.json)")
      ->required();
  sub->add_option("--config", a->config,
                  "audit.json with the options (default: RUN/audit.json when it exists; flags override)");
  sub->add_option("--from", a->from, "Redo this stage and every later one: " + stages);
  sub->add_flag("--print-config", a->print_config, "Print the options as audit.json and exit");
  a->flags = std::make_unique<cli::ConfigFlags>(sub);
  cli::ConfigFlags& f = *a->flags;
  namespace flag = cli::flags;
  f.add<std::string>(flag::kData, "members.npy marks the rows to train on; default a built-in "
                     "Fashion-MNIST subset with planted duplicates", {"/data"});
  f.add<std::string>(flag::kModel, "a trained one: skips training (a pipeline folder: a text-to-image audit)",
                     {"/model"});
  f.add<std::string>("--target", "What is audited: diffusion (a diffusion model) or gan (a GAN: diffmem train-gan's, "
                     "trained here or given as --model)", {"/target"});
  f.add<std::string>("--prompts", "Text-to-image: prompts file (default: one per distinct image of the captioned "
                     "data set)", {"/prompts"});
  f.add<std::string>("--conditioning", "Train a text-to-image model (text) or an unconditional one (none)",
                     {"/train/conditioning"});
  f.add<std::string>("--label", "Text-to-image: the prompts' 0/1 ground-truth column (default planted, or "
                     "memorized with --prompts)", {"/text/label"});
  f.add<int64_t>("--per-prompt", "Text-to-image: generations per prompt", {"/text/per_prompt"});
  f.add<double>("--guidance", "Text-to-image: classifier-free guidance scale", {"/text/pipeline/guidance_scale"});
  f.add<int64_t>("--screen-top", "Text-to-image: generate only for the screen's top K prompts (0 = every prompt)",
                 {"/text/screen_top"});
  f.add<std::string>("--screen-detector", "Text-to-image: wen or anisotropy (what --screen-top ranks by)",
                     {"/text/screen_detector"});
  f.add<std::string>("--captions", "Built-in data: auto, generated or none", {"/builtin/captions"});
  f.add<uint64_t>(flag::kSeed, "the run's, from which every stage's seed derives", {"/seed"});
  f.add<int64_t>("--n", "Built-in data: distinct member images", {"/builtin/n"});
  f.add<int64_t>("--holdout", "Built-in data: held-out non-member images", {"/builtin/holdout"});
  f.add<std::vector<int64_t>>("--duplicate-counts",
                              "Built-in data: plant member images this many times, e.g. 1,2,4,8,16",
                              {"/builtin/duplicate_counts"});
  f.add<std::string>("--preset", "Model preset (tiny, small, base, ddpm-cifar10)", {"/train/preset"});
  f.add<int64_t>(flag::kSteps, "training (the diffusion model's or, with --target gan, the GAN's)",
                 {"/train/steps", "/gan/steps"});
  f.add<int64_t>(flag::kBatch, "training (either target)", {"/train/batch", "/gan/batch"});
  f.add<double>("--lr", "Peak learning rate (either target)", {"/train/lr", "/gan/lr"});
  f.add<int64_t>("--shadows", "Shadow models for LiRA (0 = loss attack only)", {"/shadows"});
  f.add<int64_t>("--samples", "Generations", {"/sample/n"});
  f.add<std::string>(flag::kSampler, "of the generations", {"/sample/sampler"});
  f.add<int64_t>("--sample-steps", "Sampling steps (0 = 1000 ddpm, 50 ddim; text-to-image: at least 1)",
                 {"/sample/steps", "/text/pipeline/steps"});
  f.add<double>(flag::kDelta, "white- and black-box",
                {"/extract/delta", "/blackbox/analysis/delta", "/text/filter/analysis/delta"});
  f.add<int64_t>("--min-clique", "Clique of near-identical generations that flags a memorized image",
                 {"/blackbox/analysis/min_clique", "/text/filter/analysis/min_clique"});
  f.add<int64_t>("--mia-t", "Timestep of the loss attack (and CLiD)", {"/mia/loss/t", "/text/mia/t"});
  f.add<int64_t>("--draws", "Noise draws per example (loss attack, CLiD)", {"/mia/loss/draws", "/text/mia/draws"});
  f.add<int64_t>("--inpaint-targets", "Inpainting targets (half members)", {"/inpaint/attack/n_targets"});
  f.add<int64_t>("--candidates", "Completions per inpainting target", {"/inpaint/attack/candidates"});
  f.add<int64_t>("--inpaint-steps", "Inpainting sampler steps", {"/inpaint/attack/inpaint/steps"});
  f.add<std::string>("--mask", "left | right | top | bottom | center | FILE", {"/inpaint/attack/mask"});
  f.add<std::string>("--feature-net", "Sample quality: a data-set feature net (diffmem train-feature-net): FD",
                     {"/quality/features/feature_net"});
  f.add<std::string>("--inception-weights", "Sample quality: pytorch-fid's Inception-v3 weights (safetensors): FID",
                     {"/quality/features/inception_weights"});
  f.add<std::string>("--inception-torchscript", "Sample quality: NVIDIA's TorchScript inception-2015-12-05.pt: FID",
                     {"/quality/features/inception_torchscript"});
  f.add_set(pipeline::audit_option_keys());
  sub->callback([a] { run(*a); });
}
