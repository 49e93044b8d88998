// `diffmem split-check`: before any attack, can a model-free classifier tell the members from the
// non-members by simple image (and caption) statistics? If so the split is biased and attack AUCs
// on it measure the split (attack/split_check.h).
#include <cstdio>
#include <memory>

#include "command.h"
#include "flags.h"
#include "diffmem/attack/split_check.h"
#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/core/run_lock.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/json.h"

namespace {
using namespace diffmem;
namespace fs = std::filesystem;

struct Args {
  attack::SplitCheckOptions opt;
  std::unique_ptr<cli::SetFlag> set;
  std::string data, members, members_data, nonmembers_data, out;
};

void run(Args& a) {
  cli::start();
  const bool one = !a.data.empty(), two = !a.members_data.empty() || !a.nonmembers_data.empty();
  if (one == two)
    fail("split-check", "either --data (with its members.npy or --members) or --members-data and --nonmembers-data",
         one ? "both" : "neither");
  if (two && (a.members_data.empty() || a.nonmembers_data.empty()))
    fail(a.members_data.empty() ? "--members-data" : "--nonmembers-data", "a data set directory", "none");
  a.opt.seed = a.opt.bootstrap.seed;  // --stats-seed: the folds and the resamples
  a.set->apply(a.opt);
  data::Dataset ds;
  std::vector<bool> is_member;
  if (one) {
    ds = data::load_dataset(a.data);
    const fs::path truth = a.members.empty() ? fs::path(a.data) : fs::path(a.members);
    auto m = data::load_members(fs::is_directory(truth) ? truth : truth.parent_path(), ds.size());
    if (!m) fail((truth / "members.npy").string(), "the member mask (diffmem data subset --split half writes one)", "none");
    is_member = *m;
  } else {
    ds = attack::join_for_split_check(data::load_dataset(a.members_data), data::load_dataset(a.nonmembers_data),
                                      a.nonmembers_data, is_member);
  }
  const std::string why_not = attack::split_check_unavailable(ds, is_member, a.opt.folds);
  if (!why_not.empty()) fail("split-check", "enough distinct images for the cross-validation", why_not);
  const core::RunLock lock(a.out, "--out");
  const attack::SplitCheckResult r = attack::split_check(ds, is_member, a.opt);
  io::Json j = attack::split_check_json(r, a.opt);
  j["inputs"] = one ? io::Json{{"data", a.data}, {"members", a.members}}
                    : io::Json{{"members_data", a.members_data}, {"nonmembers_data", a.nonmembers_data}};
  std::string csv = "image,id,member,score\n";  // one row per distinct image
  for (size_t i = 0; i < r.scores.size(); ++i) {
    char b[40];
    std::snprintf(b, sizeof b, "%.17g", r.scores[i]);
    csv += std::to_string(i) + "," + std::to_string(r.ids[i]) + "," + (r.members[i] ? "1" : "0") + "," + b + "\n";
  }
  core::write_file_atomic(fs::path(a.out) / "scores.csv", csv);
  io::write_json(fs::path(a.out) / "split-check.json", j);
  std::printf("%s\n", attack::split_check_verdict(r).c_str());
  if (r.biased && !r.strongest.empty()) {
    std::string s;
    for (const auto& w : r.strongest) s += (s.empty() ? "" : ", ") + w;
    std::printf("strongest statistics (standardized weights): %s\n", s.c_str());
  }
  std::printf("results: %s/{split-check.json,scores.csv}\n", a.out.c_str());
}

}  // namespace

DIFFMEM_COMMAND(450) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "split-check",
      "Blind baseline: can image (and caption) statistics alone tell members from non-members? "
      "A biased split makes every attack look stronger than it is");
  sub->add_option("--data", a->data, "Data set whose members.npy (or --members) marks the members");
  sub->add_option("--members", a->members, "Member mask: a members.npy or a folder holding one (with --data)");
  sub->add_option("--members-data", a->members_data, "Data set of members (with --nonmembers-data)");
  sub->add_option("--nonmembers-data", a->nonmembers_data, "Data set of non-members (with --members-data)");
  cli::add_shared(sub, cli::flags::kOut, a->out, "folder for split-check.json and scores.csv")->required();
  sub->add_option("--folds", a->opt.folds, "Cross-validation folds")->capture_default_str();
  cli::add_bootstrap_flags(sub, a->opt.bootstrap);
  sub->add_flag("!--no-captions", a->opt.captions, "Leave the caption statistics out");
  a->set = std::make_unique<cli::SetFlag>(sub, io::field_keys<attack::SplitCheckOptions>());
  sub->callback([a] { run(*a); });
}
