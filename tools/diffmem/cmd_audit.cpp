// `diffmem audit`: data → train → sample → extract → blackbox → mia → inpaint → report in one run
// directory; every stage is skipped when its output is complete, so rerunning resumes.
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "diffmem/attack/audit.h"
#include "diffmem/core/error.h"
#include "diffmem/io/json.h"
#include "diffmem/report/report.h"

namespace {
using namespace diffmem;
namespace fs = std::filesystem;
using io::Json;

struct Args {
  std::string run, config, from;
  bool print_config = false;
  // Flags given on the command line, applied over the options file as JSON pointers.
  std::vector<std::pair<std::string, std::function<void(Json&)>>> flags;
};

template <typename T>
void flag(CLI::App* sub, Args& a, const std::string& name, std::vector<std::string> pointers,
          const std::string& help) {
  auto v = std::make_shared<T>();
  auto* opt = sub->add_option(name, *v, help);
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) opt->delimiter(',');
  a.flags.emplace_back(name, [v, pointers](Json& j) {
    for (const auto& p : pointers) j[Json::json_pointer(p)] = *v;
  });
}

std::string stage_line(const attack::StageEvent& e) {
  char head[64];
  std::snprintf(head, sizeof head, "[%d/%d] %-8s ", e.index, e.total, e.stage.c_str());
  using K = attack::StageEvent::Kind;
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

void run(Args& a, CLI::App* sub) {
  cli::start();
  const fs::path run = a.run;
  // Base: --config, else the options this run directory was started with, else the defaults.
  Json j = Json::object();
  std::string where = "defaults";
  if (!a.config.empty()) {
    j = io::read_json(a.config);
    where = a.config;
  } else if (fs::is_regular_file(run / "audit.json")) {
    j = io::read_json(run / "audit.json");
    where = (run / "audit.json").string();
  }
  for (auto& [name, apply] : a.flags)
    if (sub->count(name) > 0) apply(j);
  if (!j.is_object()) fail(where, "a JSON object of audit options", j.type_name());
  j["device"] = cli::globals().device;
  attack::AuditOptions o = attack::audit_options_from_json(j, where);
  // Stored absolute, so the run's audit.json means the same from any working directory.
  if (!o.data.empty()) o.data = fs::absolute(o.data).lexically_normal().string();
  if (!o.model.empty()) o.model = fs::absolute(o.model).lexically_normal().string();
  if (a.print_config) {
    std::printf("%s\n", attack::to_json(o).dump(2).c_str());
    return;
  }
  std::printf("audit of %s in %s (options: %s)\n",
              o.model.empty() ? "a model trained here" : o.model.c_str(), run.c_str(), where.c_str());
  std::fflush(stdout);
  auto report_hook = [](const attack::RunPaths& p) {
    report::ReportOptions ro;
    ro.run = p.run;
    ro.out = p.report;
    const auto r = report::write_report(ro);
    int present = 0;
    for (const auto& s : r.sections) present += s.present;
    return r.html.string() + " (" + std::to_string(r.html_bytes / 1024) + " KB, " +
           std::to_string(present) + " of " + std::to_string(r.sections.size()) + " sections)";
  };
  auto on_stage = [](const attack::StageEvent& e) {
    std::printf("%s\n", stage_line(e).c_str());
    std::fflush(stdout);
  };
  const auto r = attack::run_audit(run, o, a.from, report_hook, on_stage, cli::terminal_progress());
  std::printf("audit: %zu stage(s) ran, %zu complete already, %zu not applicable, %.1f s\n",
              r.ran.size(), r.skipped.size(), r.not_run.size(), r.seconds);
  std::printf("report: %s\n", r.paths.report.c_str());
}

}  // namespace

DIFFMEM_COMMAND(900) {
  auto a = std::make_shared<Args>();
  std::string stages;
  for (auto& s : attack::audit_stages()) stages += (stages.empty() ? "" : ", ") + s;
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
  Args& A = *a;
  flag<std::string>(sub, A, "--data", {"/data"},
                    "Dataset directory (members.npy: the rows to train on); default: a built-in "
                    "Fashion-MNIST subset with planted duplicates");
  flag<std::string>(sub, A, "--model", {"/model"}, "A trained diffusers model folder (skips training)");
  flag<uint64_t>(sub, A, "--seed", {"/seed", "/train/seed", "/mia/loss/seed", "/inpaint/attack/seed"},
                 "Seed of every random choice");
  flag<int64_t>(sub, A, "--n", {"/builtin/n"}, "Built-in data: distinct member images");
  flag<int64_t>(sub, A, "--holdout", {"/builtin/holdout"}, "Built-in data: held-out non-member images");
  flag<std::vector<int64_t>>(sub, A, "--duplicate-counts", {"/builtin/duplicate_counts"},
                             "Built-in data: plant member images this many times, e.g. 1,2,4,8,16");
  flag<std::string>(sub, A, "--preset", {"/train/preset"}, "Model preset (tiny, small, base, ddpm-cifar10)");
  flag<int64_t>(sub, A, "--steps", {"/train/steps"}, "Training steps");
  flag<int64_t>(sub, A, "--batch", {"/train/batch"}, "Training batch size");
  flag<double>(sub, A, "--lr", {"/train/lr"}, "Peak learning rate");
  flag<int64_t>(sub, A, "--shadows", {"/shadows"}, "Shadow models for LiRA (0 = loss attack only)");
  flag<int64_t>(sub, A, "--samples", {"/sample/n"}, "Generations");
  flag<std::string>(sub, A, "--sampler", {"/sample/sampler"}, "ddpm | ddim");
  flag<int64_t>(sub, A, "--sample-steps", {"/sample/steps"}, "Sampling steps (0 = 1000 ddpm, 50 ddim)");
  flag<double>(sub, A, "--delta", {"/extract/delta", "/blackbox/analysis/delta"},
               "Normalized l2 at or below which a generation counts as extracted");
  flag<int64_t>(sub, A, "--min-clique", {"/blackbox/analysis/min_clique"},
                "Clique of near-identical generations that flags a memorized image");
  flag<int64_t>(sub, A, "--mia-t", {"/mia/loss/t"}, "Timestep of the loss attack");
  flag<int64_t>(sub, A, "--draws", {"/mia/loss/draws"}, "Noise draws per example (loss attack)");
  flag<int64_t>(sub, A, "--inpaint-targets", {"/inpaint/attack/n_targets"},
                "Inpainting targets (half members)");
  flag<int64_t>(sub, A, "--candidates", {"/inpaint/attack/candidates"}, "Completions per inpainting target");
  flag<int64_t>(sub, A, "--inpaint-steps", {"/inpaint/attack/inpaint/steps"}, "Inpainting sampler steps");
  flag<std::string>(sub, A, "--mask", {"/inpaint/attack/mask"}, "left | right | top | bottom | center | FILE");
  sub->callback([a, sub] { run(*a, sub); });
}
