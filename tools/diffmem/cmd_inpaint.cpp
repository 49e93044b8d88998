// `diffmem inpaint`: the partial-knowledge attack (Carlini et al. §5.3) — hide part of member and
// non-member images, let the model complete them, and compare how close the completions come.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "flags.h"
#include "ranks.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/attack/inpaint_run.h"
#include "diffmem/core/atomic_file.h"
#include "diffmem/metrics/roc.h"
#include "diffmem/report/svg.h"

namespace {
using namespace diffmem;

struct Args {
  attack::InpaintRunOptions opt;
  std::unique_ptr<cli::SetFlag> set;
  std::string model, data, out;
};

}  // namespace

DIFFMEM_COMMAND(600) {
  auto a = std::make_shared<Args>();
  auto& o = a->opt;
  auto* sub = app.add_subcommand(
      "inpaint",
      "Inpainting attack: hide part of members' and non-members' images, complete them with the "
      "model, compare (resumable)");
  cli::add_shared(sub, cli::flags::kModel, a->model, "its members.npy (else the dataset's) says who is a member")
      ->required();
  cli::add_shared(sub, cli::flags::kData, a->data, "the one the model was trained on")->required();
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder")->required();
  sub->add_option("--mask", o.attack.mask,
                  "Hidden region: left | right | top | bottom (that half), center (a square of "
                  "half the side), or an image file (white = hidden, black = known)")
      ->capture_default_str();
  sub->add_option("--candidates", o.attack.candidates, "Completions per target (seeded)")
      ->capture_default_str();
  sub->add_option("--keep", o.attack.keep,
                  "Completions kept per target, lowest model loss first; the score is the "
                  "distance of the closest kept one")
      ->capture_default_str();
  sub->add_option("--n-targets", o.attack.n_targets, "Targets, half members, half non-members")
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kSampler, o.attack.inpaint.sampler)
      ->check(CLI::IsMember({"ddpm", "ddim"}))
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kSteps, o.attack.inpaint.steps, "sampling; 0 = 1000 ddpm, 50 ddim")
      ->capture_default_str();
  sub->add_option("--eta", o.attack.inpaint.eta, "DDIM eta")->capture_default_str();
  sub->add_option("--resample", o.attack.inpaint.resample_jumps,
                  "RePaint resampling: each step taken r times (1 = none)")
      ->capture_default_str();
  sub->add_option("--rank-t", o.attack.rank_t, "Timestep of the ranking loss")
      ->capture_default_str();
  sub->add_option("--rank-draws", o.attack.rank_draws, "Noise draws per ranking loss")
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kSeed, o.attack.seed, "of targets, completions and ranking noise")
      ->capture_default_str();
  cli::add_shared(sub, cli::flags::kBatch, o.attack.inpaint.batch, "model inputs per forward pass; never changes a result")
      ->capture_default_str();
  sub->add_option("--show", o.show, "Strips for the first N members and N non-members")
      ->capture_default_str();
  sub->add_option("--scale", o.strip_scale, "Magnification of the strips")->capture_default_str();
  sub->add_option("--format", o.load.format, "Model format: diffusers | torchscript")
      ->check(CLI::IsMember({"diffusers", "torchscript"}))
      ->capture_default_str();
  cli::add_bootstrap_flags(sub, o.bootstrap);
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<attack::InpaintRunOptions>());
  sub->callback([a] {
    cli::start();
    auto& o = a->opt;
    o.model = a->model;
    o.data = a->data;
    o.out = a->out;
    o.load.device = cli::globals().device;
    a->set->apply(o);
    const cli::JobLock lock(o.out, "--out");  // one run per folder
    auto r = attack::run_inpaint(o, cli::terminal_progress(), cli::ranks());
    if (!cli::prints()) return;

    report::RocSeries series;
    series.curve = metrics::read_roc_csv(o.out / "roc.csv");
    series.curve.positives = r.summary.members;
    series.curve.negatives = r.summary.nonmembers;
    char label[160];
    std::snprintf(label, sizeof label, "inpaint %s (AUC %.3f)", o.attack.mask.c_str(),
                  r.summary.auc);
    series.name = label;
    report::RocPlotOptions po;
    po.title = "Inpainting attack";
    core::write_file_atomic(o.out / "roc.svg", report::roc_svg({series}, po));

    std::printf("%lld members, %lld non-members (%lld attacked now, %lld from a previous run); "
                "truth: %s\n",
                static_cast<long long>(r.members), static_cast<long long>(r.nonmembers),
                static_cast<long long>(r.computed), static_cast<long long>(r.cached),
                r.ground_truth.c_str());
    std::printf("mean distance on the hidden region: members %.4f, non-members %.4f\n",
                r.mean_distance_members, r.mean_distance_nonmembers);
    auto pct = [](double v) {
      char b[32];
      std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
      return std::isnan(v) ? std::string("not measurable") : std::string(b);
    };
    std::printf("AUC %.4f, TPR@1%%FPR %s, TPR@0.1%%FPR %s, balanced accuracy %.4f (%.1f s)\n", r.summary.auc,
                pct(r.summary.tpr_at_fpr_1pct).c_str(), pct(r.summary.tpr_at_fpr_0_1pct).c_str(),
                r.summary.balanced_accuracy, r.seconds);
    if (r.summary.ci)
      std::printf("AUC %g%% interval [%.4f, %.4f] (%lld bootstrap resamples)\n", 100 * r.summary.ci->options.level,
                  r.summary.ci->auc.low, r.summary.ci->auc.high, static_cast<long long>(r.summary.ci->options.resamples));
    std::printf("results: %s (inpaint.csv, summary.json, roc.csv, roc.svg, strips.png, strips/)\n",
                o.out.c_str());
  });
}
