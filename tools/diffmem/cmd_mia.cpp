// `diffmem mia loss|lira|secmi|pia`: membership inference against a target model, scored against
// the target's members.npy; writes per-attack CSV/JSON and one log-log ROC of every attack in --out.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "flags.h"
#include "ranks.h"
#include "diffmem/attack/mia_gan.h"
#include "diffmem/attack/mia_run.h"
#include "diffmem/attack/mia_text.h"
#include "diffmem/data/dataset.h"
#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/io/json.h"
#include "diffmem/metrics/roc.h"
#include "diffmem/model/dcgan.h"
#include "diffmem/report/svg.h"

namespace {
using namespace diffmem;
namespace fs = std::filesystem;

struct Args {
  attack::MiaRunOptions opt;
  std::unique_ptr<cli::SetFlag> set;
  std::string kind, data, target, shadows, members, out, sweep;
  std::string variance = "per-example";
  int64_t t = -1;
  int64_t batch = 256;
};

int64_t parse_int(const std::string& s, const std::string& flag) {
  size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos == 0 || pos != s.size()) fail(flag, "an integer", "'" + s + "'");
  return v;
}

// A rate as a percentage, or "n/m" (not measurable: too few non-members for that FPR).
std::string pct(double v) {
  if (std::isnan(v)) return "n/m";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
  return b;
}

std::string fixed4(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

std::string interval_pct(double v, const metrics::Interval& i) {
  if (std::isnan(v) || !i.valid()) return "not measurable";
  char b[64];
  std::snprintf(b, sizeof b, "%.2f%% [%.2f%%, %.2f%%]", 100 * v, 100 * i.low, 100 * i.high);
  return b;
}

// "50,100,200" or "LO:HI:STEP" (inclusive).
std::vector<int64_t> parse_sweep(const std::string& s) {
  std::vector<int64_t> ts;
  if (s.empty()) return ts;
  if (s.find(':') != std::string::npos) {
    auto a = s.find(':'), b = s.find(':', a + 1);
    if (b == std::string::npos) fail("--t-sweep", "LO:HI:STEP or a comma list", "'" + s + "'");
    int64_t lo = parse_int(s.substr(0, a), "--t-sweep"), hi = parse_int(s.substr(a + 1, b - a - 1), "--t-sweep"),
            step = parse_int(s.substr(b + 1), "--t-sweep");
    if (step < 1 || hi < lo) fail("--t-sweep", "LO <= HI and STEP >= 1", "'" + s + "'");
    for (int64_t t = lo; t <= hi; t += step) ts.push_back(t);
    return ts;
  }
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    ts.push_back(parse_int(s.substr(start, comma - start), "--t-sweep"));
    start = comma + 1;
  }
  return ts;
}

// Every attack folder in `out` (summary.json + roc.csv) in one log-log ROC.
void write_roc_figure(const fs::path& out) {
  std::vector<report::RocSeries> series;
  std::vector<fs::path> dirs;
  for (auto& e : fs::directory_iterator(out))
    if (e.is_directory() && fs::is_regular_file(e.path() / "summary.json") &&
        fs::is_regular_file(e.path() / "roc.csv"))
      dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  for (auto& d : dirs) {
    io::Json j = io::read_json(d / "summary.json");
    metrics::RocSummary s;
    metrics::from_json(j, s);
    report::RocSeries r;
    r.curve = metrics::read_roc_csv(d / "roc.csv");
    r.curve.positives = s.members;
    r.curve.negatives = s.nonmembers;
    char label[200];
    std::snprintf(label, sizeof label, "%s (AUC %.3f, TPR@1%%FPR %s)", d.filename().c_str(), s.auc,
                  pct(s.tpr_at_fpr_1pct).c_str());
    r.name = label;
    series.push_back(std::move(r));
  }
  if (series.empty()) return;
  report::RocPlotOptions po;
  po.title = "Membership inference";
  core::write_file_atomic(out / "roc.svg", report::roc_svg(series, po));
}

// A GAN folder: the discriminator attack, the only one that applies to it.
void run_gan(Args& a, CLI::App* sub) {
  if (a.kind != "discriminator")
    fail("mia " + a.kind, "the discriminator attack for a GAN (diffmem mia discriminator)",
         "a GAN folder as --target: " + a.target);
  std::string refused;
  for (const char* f : {"--shadows", "--t", "--draws", "--seed", "--secmi-step", "--pia-p", "--lira-base",
                        "--lira-statistic", "--variance", "--t-sweep", "--format", "--set"})
    if (sub->count(f) > 0) refused += (refused.empty() ? "" : ", ") + std::string(f);
  if (!refused.empty())
    fail("mia discriminator", "only --data, --target, --members, --out, --flip, --batch, --calibrate-on, "
                              "--no-split-check and the bootstrap flags", refused + " (options of the diffusion attacks)");
  attack::GanMiaOptions o;
  o.data = a.data;
  o.target = a.target;
  o.members = a.members;
  o.out = a.out;
  o.flip = a.opt.loss.flip;
  o.batch = a.batch;
  o.device = cli::globals().device;
  o.bootstrap = a.opt.bootstrap;
  o.calibrate_on = a.opt.calibrate_on;
  o.split_check = a.opt.split_check;
  const core::RunLock lock(o.out, "--out");  // one run per folder
  const attack::MiaAttackReport rep = attack::run_gan_mia(o, cli::terminal_progress());
  write_roc_figure(o.out);
  std::printf("%lld members, %lld non-members\n", static_cast<long long>(rep.summary.members),
              static_cast<long long>(rep.summary.nonmembers));
  std::printf("%-18s AUC %.4f  TPR@1%%FPR %s  TPR@0.1%%FPR %s  (%.1f s)\n", rep.name.c_str(), rep.summary.auc,
              pct(rep.summary.tpr_at_fpr_1pct).c_str(), pct(rep.summary.tpr_at_fpr_0_1pct).c_str(), rep.seconds);
  if (rep.summary.ci)
    std::printf("%-18s AUC [%.4f, %.4f], TPR@1%%FPR %s\n", rep.name.c_str(), rep.summary.ci->auc.low,
                rep.summary.ci->auc.high, interval_pct(rep.summary.tpr_at_fpr_1pct, rep.summary.ci->tpr_at_fpr_1pct).c_str());
  std::printf("results: %s (roc.svg, gan-discriminator/summary.json, scores.csv, roc.csv)\n", o.out.c_str());
}

}  // namespace

DIFFMEM_COMMAND(500) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "mia", "Membership inference (loss threshold, LiRA with shadow models, SecMI, PIA; on text-to-image "
             "pipeline folders also CLiD)");
  sub->add_option("attack", a->kind, "loss | lira | secmi | pia | clid (clid: text-to-image pipelines only) | discriminator (GAN "
                  "folders only: the discriminator's logit)")
      ->required()
      ->check(CLI::IsMember({"loss", "lira", "secmi", "pia", "clid", "discriminator"}));
  cli::add_shared(sub, cli::flags::kData, a->data, "the one the models were trained on")->required();
  sub->add_option("--target", a->target, "Target model folder (its members.npy is the truth)")
      ->required();
  sub->add_option("--shadows", a->shadows,
                  "Folder of shadow model folders, each with members.npy (diffmem train --models K "
                  "--split half); the target is left out if it is among them");
  sub->add_option("--members", a->members,
                  "Ground-truth members.npy (or its folder) instead of the target's");
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder with one subfolder per attack, roc.svg, cache/")
      ->required();
  sub->add_option("--t", a->t, "Timestep of the statistic (default: loss 100, secmi 100, pia 200)");
  sub->add_option("--draws", a->opt.loss.draws, "Noise draws per example (loss)")
      ->capture_default_str();
  sub->add_flag("--flip", a->opt.loss.flip, "Also score the mirrored image and average");
  cli::add_shared(sub, cli::flags::kSeed, a->opt.loss.seed, "of the per-example noise draws")
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kBatch, a->batch, "model inputs per forward pass; changes no score beyond float rounding")
      ->capture_default_str();
  sub->add_option("--secmi-step", a->opt.secmi.step, "SecMI's DDIM interval k")->capture_default_str();
  sub->add_option("--pia-p", a->opt.pia.p, "PIA's norm: 4 (paper) or 2")->capture_default_str();
  sub->add_option("--lira-base", a->opt.lira_base, "Statistic LiRA fits: loss | secmi | pia")
      ->check(CLI::IsMember({"loss", "secmi", "pia"}))
      ->capture_default_str();
  sub->add_option("--lira-statistic", a->opt.lira_statistic,
                  "logit: -log(expm1(error)) (default); raw: -error")
      ->check(CLI::IsMember({"logit", "raw"}))
      ->capture_default_str();
  sub->add_option("--variance", a->variance, "LiRA variance: per-example | global")
      ->check(CLI::IsMember({"per-example", "global"}))
      ->capture_default_str();
  sub->add_option("--t-sweep", a->sweep,
                  "Also report the attacks at these timesteps: 50,100,200 or LO:HI:STEP");
  sub->add_option("--format", a->opt.load.format, "Model format: diffusers | torchscript")
      ->check(CLI::IsMember({"diffusers", "torchscript"}))
      ->capture_default_str();
  cli::add_bootstrap_flags(sub, a->opt.bootstrap);
  sub->add_option("--calibrate-on", a->opt.calibrate_on,
                  "Fix each attack's thresholds (TPR at 1%/0.1% FPR, best balanced accuracy) on this share of "
                  "the members and non-members and report TPR/FPR on the held-out rest (0 = off)")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  sub->add_flag("!--no-split-check", a->opt.split_check,
                "Skip the model-free baseline that tests whether members and non-members differ in image statistics");
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<attack::MiaRunOptions>());
  sub->callback([a, sub] {
    cli::start();
    if (a->kind == "discriminator" || model::is_gan_folder(a->target)) {
      cli::one_process_only("mia discriminator");
      run_gan(*a, sub);
      return;
    }
    if (fs::exists(fs::path(a->target) / "model_index.json")) {  // a text-to-image pipeline folder
      attack::TextMiaOptions to;
      if (a->opt.loss.flip) fail("--flip", "not for a text-to-image pipeline: its captions describe the unflipped image");
      if (a->t >= 0) (a->kind == "secmi" ? to.secmi_t : a->kind == "pia" ? to.pia_t : to.t) = a->t;
      to.secmi_step = a->opt.secmi.step;
      to.pia_p = a->opt.pia.p;
      if (sub->count("--draws") > 0) to.draws = a->opt.loss.draws;
      if (sub->count("--batch") > 0) to.batch = a->batch;
      to.seed = a->opt.loss.seed;
      to.lira_statistic = a->opt.lira_statistic;
      to.lira_global_variance = a->variance == "global";
      const data::Dataset ds = data::load_dataset(a->data);
      const fs::path truth = a->members.empty() ? fs::path(a->target) : fs::path(a->members);
      const auto members = data::load_members(fs::is_directory(truth) ? truth : truth.parent_path(), ds.size());
      if (!members) fail(truth.string(), "a members.npy (the ground truth; diffmem train writes one)", "none");
      const cli::JobLock lock(a->out, "--out");  // one run per folder
      const auto r = attack::run_text_mia(a->target, ds, *members, a->kind, to, a->out, cli::globals().device,
                                          cli::terminal_progress(), a->shadows, cli::ranks());
      if (!cli::prints()) return;
      write_roc_figure(a->out);
      std::printf("%lld members, %lld non-members\n", static_cast<long long>(r.members),
                  static_cast<long long>(r.nonmembers));
      for (auto& rep : r.attacks)
        std::printf("%-8s AUC %.4f  TPR@1%%FPR %s  TPR@0.1%%FPR %s\n", rep.name.c_str(), rep.summary.auc,
                    pct(rep.summary.tpr_at_fpr_1pct).c_str(), pct(rep.summary.tpr_at_fpr_0_1pct).c_str());
      std::printf("results: %s (roc.svg, <attack>/summary.json, scores.csv, roc.csv)\n", a->out.c_str());
      return;
    }
    if (a->kind == "clid") fail("mia clid", "a text-to-image pipeline folder as --target", a->target);
    auto& o = a->opt;
    o.attack = a->kind;
    o.data = a->data;
    o.target = a->target;
    o.shadows = a->shadows;
    o.members = a->members;
    o.out = a->out;
    o.load.device = cli::globals().device;
    o.loss.batch = o.secmi.batch = o.pia.batch = a->batch;
    o.secmi.flip = o.pia.flip = o.loss.flip;
    o.lira_global_variance = a->variance == "global";
    const std::string stat = a->kind == "lira" ? o.lira_base : a->kind;
    if (a->t >= 0) (stat == "loss" ? o.loss.t : stat == "secmi" ? o.secmi.t : o.pia.t) = a->t;
    o.t_sweep = parse_sweep(a->sweep);
    a->set->apply(o);

    const cli::JobLock lock(o.out, "--out");  // one run per folder
    auto r = attack::run_mia(o, cli::terminal_progress(), cli::ranks());
    if (!cli::prints()) return;
    write_roc_figure(o.out);
    std::printf("%lld members, %lld non-members%s\n", static_cast<long long>(r.members),
                static_cast<long long>(r.nonmembers),
                r.shadows > 0 ? (", " + std::to_string(r.shadows) + " shadow models").c_str() : "");
    std::printf("%-24s %8s %14s %12s %10s %9s\n", "attack", "AUC", "TPR@0.1%FPR", "TPR@1%FPR",
                "bal.acc", "seconds");
    for (auto& rep : r.attacks)
      std::printf("%-24s %8.4f %14s %12s %10.4f %9.1f\n", rep.name.c_str(), rep.summary.auc,
                  pct(rep.summary.tpr_at_fpr_0_1pct).c_str(), pct(rep.summary.tpr_at_fpr_1pct).c_str(),
                  rep.summary.balanced_accuracy, rep.seconds);
    for (auto& rep : r.attacks)
      if (rep.summary.ci)
        std::printf("%-24s AUC %s [%.4f, %.4f], TPR@1%%FPR %s (%g%% intervals, %lld resamples)\n",
                    rep.name.c_str(), fixed4(rep.summary.auc).c_str(), rep.summary.ci->auc.low,
                    rep.summary.ci->auc.high, interval_pct(rep.summary.tpr_at_fpr_1pct, rep.summary.ci->tpr_at_fpr_1pct).c_str(),
                    100 * rep.summary.ci->options.level, static_cast<long long>(rep.summary.ci->options.resamples));
    if (fs::is_regular_file(o.out / "split-check.json")) {
      const io::Json sc = io::read_json(o.out / "split-check.json");
      std::printf("split check: %s\n", sc.contains("verdict") ? sc["verdict"].get<std::string>().c_str()
                                                              : ("skipped, " + sc.value("skipped", std::string())).c_str());
    }
    if (!r.sweep.empty()) {
      std::printf("\nt-sweep:\n%-24s %6s %8s %14s %12s\n", "attack", "t", "AUC", "TPR@0.1%FPR",
                  "TPR@1%FPR");
      for (auto& row : r.sweep)
        std::printf("%-24s %6lld %8.4f %14s %12s\n", row.attack.c_str(), static_cast<long long>(row.t),
                    row.summary.auc, pct(row.summary.tpr_at_fpr_0_1pct).c_str(),
                    pct(row.summary.tpr_at_fpr_1pct).c_str());
    }
    std::printf("results: %s (roc.svg, <attack>/summary.json, scores.csv, roc.csv)\n",
                o.out.c_str());
  });
}
