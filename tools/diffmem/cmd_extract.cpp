// `diffmem extract`: white-box extraction (Carlini et al. §5.1): every generation against every
// training image; which training images came back, and how often, by planted duplicate count.
#include <cstdio>
#include <memory>
#include <optional>

#include "command.h"
#include "flags.h"
#include "ranks.h"
#include "diffmem/attack/extract.h"
#include "diffmem/core/error.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/core/runtime.h"

namespace {
using namespace diffmem;

struct Args {
  attack::ExtractOptions opt;
  std::unique_ptr<cli::SetFlag> set;
  std::string generations, train, out;
  double calibrated_threshold = -1;
  bool no_reuse = false;
  bool all_pairs = false;
  bool split_train = false;
};

void run(Args& a) {
  cli::start();
  if (a.calibrated_threshold >= 0) a.opt.calibrated_threshold = a.calibrated_threshold;
  a.opt.device = core::resolve_device(cli::globals().device);
  a.opt.reuse = !a.no_reuse;
  a.opt.pairs_distinct = !a.all_pairs;
  a.opt.split_train = a.split_train;
  a.set->apply(a.opt);
  const cli::JobLock lock(a.out, "--out");  // one run per folder
  const attack::ExtractResult r = attack::run_extract(a.generations, a.train, a.out, a.opt, io::Json::object(),
                                                      cli::terminal_progress(), cli::ranks());
  if (!cli::prints()) return;
  const io::Json& s = r.summary;
  if (a.opt.calibrated_threshold)
    std::printf("%lld of %lld generations within calibrated l2 %g (%lld within delta %g); ",
                static_cast<long long>(r.extracted_generations), static_cast<long long>(r.generations),
                *a.opt.calibrated_threshold, static_cast<long long>(s["within_delta"].get<int64_t>()),
                a.opt.delta);
  else
    std::printf("%lld of %lld generations within delta %g; ", static_cast<long long>(r.extracted_generations),
                static_cast<long long>(r.generations), a.opt.delta);
  std::printf("%lld unique training images extracted\n", static_cast<long long>(r.unique_extracted));
  // The rates with their bootstrap intervals (summary.json: duplicate_rates[i].rate_ci).
  const io::Json& rates = s["duplicate_rates"];
  for (size_t i = 0; i < r.rates.size(); ++i) {
    const attack::DuplicateRate& d = r.rates[i];
    std::string ci;
    if (i < rates.size() && rates[i].contains("rate_ci") && rates[i]["rate_ci"].is_array()) {
      char b[64];
      std::snprintf(b, sizeof b, " [%.0f%%, %.0f%%]", 100 * rates[i]["rate_ci"][0].get<double>(),
                    100 * rates[i]["rate_ci"][1].get<double>());
      ci = b;
    }
    std::printf("  duplicated x%-4lld %3lld of %3lld extracted (%.0f%%%s)\n", static_cast<long long>(d.count),
                static_cast<long long>(d.extracted), static_cast<long long>(d.planted), 100.0 * d.rate, ci.c_str());
  }
  std::printf("%lld shards (%lld computed, %lld reused), %.1f s; results: %s/{matches.csv,extracted.csv,"
              "summary.json,pairs.png}\n",
              static_cast<long long>(r.shards), static_cast<long long>(r.shards_computed),
              static_cast<long long>(r.shards_reused), r.seconds, a.out.c_str());
}

}  // namespace

DIFFMEM_COMMAND(400) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "extract", "White-box extraction: nearest training image of every generation (l2, tiled l2, "
                 "calibrated l2); which training images were extracted");
  sub->add_option("--generations", a->generations, "Folder of generation shards (diffmem sample --out)")
      ->required();
  sub->add_option("--train", a->train, "Training data set (diffmem data import/subset)")->required();
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder for matches.csv, extracted.csv, summary.json, pairs.png")
      ->required();
  cli::add_shared(sub, cli::flags::kDelta, a->opt.delta)
      ->capture_default_str();
  sub->add_option("--calibrated-threshold", a->calibrated_threshold,
                  "Extracted when calibrated l2 <= this instead (the paper's CIFAR-10 criterion)");
  sub->add_option("--alpha", a->opt.alpha, "Calibrated l2: scale of the neighbourhood mean")->capture_default_str();
  sub->add_option("--n-calibration", a->opt.n_calibration,
                  "Calibrated l2: nearest training images averaged (0 = no calibrated l2)")
      ->capture_default_str();
  sub->add_option("--tiles", a->opt.tiles, "Tiled l2: tiles per side")->capture_default_str();
  sub->add_option("--top-pairs", a->opt.top_pairs_png, "Closest pairs drawn in pairs.png (0 = none)")
      ->capture_default_str();
  sub->add_flag("--all-pairs", a->all_pairs,
                "pairs.png: the closest generations even when they hit the same training image");
  sub->add_option("--query-block", a->opt.knn.query_block, "k-NN: generations per GEMM block (0 = auto)")
      ->capture_default_str();
  sub->add_option("--base-block", a->opt.knn.base_block, "k-NN: training images per GEMM block (0 = auto)")
      ->capture_default_str();
  sub->add_flag("--no-reuse", a->no_reuse, "Recompute every shard even when OUT/shards holds its result");
  sub->add_flag("--split-train", a->split_train,
                "Under several ranks (mpirun/srun): each rank holds 1/N of the training set and searches it for "
                "every generation, the ranks' nearest merged (for training sets too big for one rank's memory); "
                "same outputs as one process");
  cli::add_bootstrap_flags(sub, a->opt.bootstrap);
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<attack::ExtractOptions>());
  sub->callback([a] { run(*a); });
}
