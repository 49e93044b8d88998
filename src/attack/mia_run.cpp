#include "diffmem/attack/mia_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "diffmem/attack/split_check.h"
#include "diffmem/core/atomic_file.h"
#include "diffmem/core/clock.h"
#include "diffmem/core/format.h"
#include "diffmem/core/memory.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/metrics/calibration.h"
#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/io/npy.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

namespace {

std::shared_ptr<const ExampleScorer> scorer_for(const std::string& kind, const MiaRunOptions& o) {
  if (kind == "loss") return make_loss_scorer(o.loss);
  if (kind == "secmi") return make_secmi_scorer(o.secmi);
  if (kind == "pia") return make_pia_scorer(o.pia);
  fail("mia statistic", "loss, secmi or pia", "\"" + kind + "\"");
}

io::Json summary_json(const metrics::RocSummary& s) {
  io::Json j;
  metrics::to_json(j, s);
  return j;
}

// A number, or empty for NaN (not measurable / no interval).
std::string cell(double v) { return std::isnan(v) ? std::string() : core::exact_number(v); }

void write_sweep_csv(const fs::path& path, const std::vector<MiaSweepRow>& rows) {
  std::string s = "attack,t,auc,tpr_at_fpr_0.001,tpr_at_fpr_0.01,balanced_accuracy,auc_low,auc_high,"
                  "tpr_at_fpr_0.01_low,tpr_at_fpr_0.01_high\n";
  for (auto& r : rows) {
    const auto& ci = r.summary.ci;
    s += r.attack + "," + std::to_string(r.t) + "," + core::exact_number(r.summary.auc) + "," +
         cell(r.summary.tpr_at_fpr_0_1pct) + "," + cell(r.summary.tpr_at_fpr_1pct) + "," +
         core::exact_number(r.summary.balanced_accuracy) + "," + cell(ci ? ci->auc.low : NAN) + "," +
         cell(ci ? ci->auc.high : NAN) + "," + cell(ci ? ci->tpr_at_fpr_1pct.low : NAN) + "," +
         cell(ci ? ci->tpr_at_fpr_1pct.high : NAN) + "\n";
  }
  core::write_file_atomic(path, s);
}

}  // namespace

std::vector<fs::path> list_model_folders(const fs::path& dir, const fs::path& exclude) {
  if (!fs::is_directory(dir)) fail(dir.string(), "a folder of model folders", "no such folder");
  std::error_code ec;
  const fs::path ex = exclude.empty() ? fs::path() : fs::weakly_canonical(exclude, ec);
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory() || !fs::is_regular_file(e.path() / "config.json")) continue;
    if (!ex.empty() && fs::weakly_canonical(e.path(), ec) == ex) continue;
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::unique_ptr<MembershipAttack>> make_attacks(const MiaRunOptions& o) {
  std::vector<std::unique_ptr<MembershipAttack>> v;
  if (o.attack == "loss" || o.attack == "secmi" || o.attack == "pia") {
    v.push_back(make_threshold_attack(scorer_for(o.attack, o)));
  } else if (o.attack == "lira") {
    auto s = scorer_for(o.lira_base, o);
    for (bool online : {true, false}) {
      LiraOptions lo;
      lo.online = online;
      lo.global_variance = o.lira_global_variance;
      lo.statistic = o.lira_statistic;
      v.push_back(make_lira_attack(s, lo));
    }
  } else {
    fail("mia attack", "loss, lira, secmi or pia", "\"" + o.attack + "\"");
  }
  return v;
}

void write_scores_csv(const fs::path& path, const data::Dataset& ds, const std::vector<double>& scores,
                      const std::vector<bool>& members) {
  check(scores.size() == static_cast<size_t>(ds.size()) && members.size() == scores.size(),
        path.string(), std::to_string(ds.size()) + " scores and member flags",
        std::to_string(scores.size()) + " and " + std::to_string(members.size()));
  std::string s = "row,id,score,member\n";
  s.reserve(s.size() + scores.size() * 40);
  for (size_t i = 0; i < scores.size(); ++i)
    s += std::to_string(i) + "," + std::to_string(ds.ids[i]) + "," + core::exact_number(scores[i]) + "," +
         (members[i] ? "1" : "0") + "\n";
  core::write_file_atomic(path, s);
}

io::Json write_split_check(const data::Dataset& ds, const std::vector<bool>& members,
                           const metrics::BootstrapOptions& bootstrap, const fs::path& out) {
  SplitCheckOptions so;
  so.bootstrap = bootstrap;
  const std::string why_not = split_check_unavailable(ds, members, so.folds);
  const io::Json split =
      why_not.empty() ? split_check_json(split_check(ds, members, so), so) : io::Json{{"skipped", why_not}};
  io::write_json(out / "split-check.json", split);
  log::info("mia split check: " + (why_not.empty() ? split["verdict"].get<std::string>() : "skipped, " + why_not));
  return split;
}

io::Json write_attack_scores(const fs::path& out, const std::string& name, const data::Dataset& ds,
                             const std::vector<double>& scores, const std::vector<bool>& members,
                             const metrics::BootstrapOptions& bootstrap, double calibrate_on, const io::Json& split,
                             MiaAttackReport& rep) {
  rep.name = name;
  rep.dir = out / name;
  // Copies of one image share its id and its score: resampled together.
  rep.summary = metrics::summarize(scores, members, {}, bootstrap, &ds.ids);
  write_scores_csv(rep.dir / "scores.csv", ds, scores, members);
  metrics::write_roc_csv(rep.dir / "roc.csv", metrics::compact(metrics::roc_curve(scores, members)));
  if (rep.summary.ci) metrics::write_roc_band_csv((rep.dir / "roc_band.csv").string(), *rep.summary.ci);
  io::Json j = summary_json(rep.summary);
  if (calibrate_on > 0) {
    metrics::CalibrationOptions co;
    co.fraction = calibrate_on;
    co.seed = bootstrap.seed;
    metrics::to_json(j["calibrated"], metrics::calibrate(scores, members, co));
  }
  j["split_check"] = split.is_null() ? split : split_check_brief(split);
  j["attack"] = name;
  return j;
}

std::vector<bool> read_member_mask(const fs::path& p, int64_t n) {
  if (fs::is_regular_file(p)) {
    io::HostArray a = io::read_npy(p);
    check(a.dtype == io::DType::kBool && a.shape == std::vector<int64_t>{n}, p.string(),
          "a bool array of shape (" + std::to_string(n) + ",)",
          io::dtype_name(a.dtype) + " " + io::shape_str(a.shape));
    std::vector<bool> m(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) m[static_cast<size_t>(i)] = a.bytes[static_cast<size_t>(i)] != 0;
    return m;
  }
  auto m = data::load_members(p, n);
  if (!m) fail((p / "members.npy").string(), "the member mask of the model", "no such file");
  return *m;
}

namespace {

// An MPI job's ranks: every (model, statistic) pair the attacks and the t-sweep will ask for,
// computed round robin into the score cache, so that rank 0's attacks then read them all.
void score_by_ranks(const MiaRunOptions& o, const data::Dataset& ds,
                    const std::vector<std::unique_ptr<MembershipAttack>>& attacks, const AttackInputs& inputs,
                    const dist::Communicator& comm, const ProgressFn& progress) {
  ModelScoring scoring(ds, o.out / "cache", o.load, progress);
  std::vector<ModelStatistic> pairs;
  std::set<fs::path> seen;  // by cache file: LiRA and the threshold attack share the target's
  const auto add = [&](const MembershipAttack& a) {
    for (ModelStatistic& p : a.model_statistics(inputs))
      if (seen.insert(scoring.cache_file(p.model, *p.scorer)).second) pairs.push_back(std::move(p));
  };
  for (const auto& a : attacks) {
    add(*a);
    for (int64_t t : o.t_sweep) add(*a->at_timestep(t));
  }
  dist::collectively(comm, [&] {
    for (size_t i = 0; i < pairs.size(); ++i)
      if (dist::owns(static_cast<int64_t>(i), comm.rank(), comm.size()))
        scoring.errors(pairs[i].model, *pairs[i].scorer);
  });
}

}  // namespace

MiaRunResult run_mia(const MiaRunOptions& o, const ProgressFn& progress, const dist::Communicator& comm) {
  const auto t_run = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<MembershipAttack>> attacks;
  data::Dataset ds;
  AttackInputs inputs;
  MiaRunResult result;
  dist::collectively(comm, [&] {
    check(!o.out.empty(), "--out", "an output folder", "none");
    attacks = make_attacks(o);
    ds = data::load_dataset(o.data);
    const int64_t n = ds.size();

    inputs.target.path = o.target;
    fs::path members_at = o.members;
    if (members_at.empty())
      members_at = fs::is_regular_file(o.target) ? o.target.parent_path() : o.target;
    inputs.target.members = read_member_mask(members_at, n);

    for (bool m : inputs.target.members) (m ? result.members : result.nonmembers) += 1;
    check(result.members > 0 && result.nonmembers > 0, members_at.string(),
          "a member mask with members and non-members",
          std::to_string(result.members) + " members and " + std::to_string(result.nonmembers) +
              " non-members");

    const bool need_shadows = std::any_of(attacks.begin(), attacks.end(),
                                          [](auto& a) { return a->needs_shadows(); });
    if (need_shadows) {
      check(!o.shadows.empty(), "--shadows", "a folder of shadow models for LiRA", "none");
      for (auto& dir : list_model_folders(o.shadows, o.target))
        inputs.shadows.push_back({dir, read_member_mask(dir, n)});
      check(!inputs.shadows.empty(), o.shadows.string(),
            "model folders (config.json + members.npy) besides the target", "none");
      result.shadows = static_cast<int64_t>(inputs.shadows.size());
    }

    metrics::validate(o.bootstrap);
    if (o.calibrate_on != 0) {
      metrics::CalibrationOptions co;
      co.fraction = o.calibrate_on;
      metrics::validate(co);
    }
  });
  if (comm.size() > 1) score_by_ranks(o, ds, attacks, inputs, comm, progress);
  dist::collectively(comm, [&] {
    if (comm.rank() != 0) return;  // rank 0 writes what one process would

    // The model-free baseline on the same split, before any attack's numbers.
    const io::Json split = o.split_check ? write_split_check(ds, inputs.target.members, o.bootstrap, o.out) : io::Json();

    ModelScoring scoring(ds, o.out / "cache", o.load, progress);
    std::vector<io::Json> summaries;
    for (auto& attack : attacks) {
      const auto t0 = std::chrono::steady_clock::now();
      const core::PeakMemory memory;
      const size_t timing_start = scoring.timings().size();
      io::Json details = io::Json::object();
      auto scores = attack->scores(scoring, inputs, details);
      MiaAttackReport rep;
      io::Json j = write_attack_scores(o.out, attack->name(), ds, scores, inputs.target.members, o.bootstrap,
                                       o.calibrate_on, split, rep);
      rep.seconds = core::seconds_since(t0);

      io::Json models = io::Json::array();
      int64_t forwards = 0, forwards_now = 0;
      for (size_t i = timing_start; i < scoring.timings().size(); ++i) {
        auto& t = scoring.timings()[i];
        forwards += t.forwards;
        if (!t.cached) forwards_now += t.forwards;
        models.push_back({{"model", t.model}, {"statistic", t.scorer}, {"cached", t.cached},
                          {"seconds", t.seconds}, {"forwards_per_s", t.forwards_per_s}});
      }
      j["options"] = attack->options();
      j["details"] = details;
      j["run"] = io::fields_json(o);
      j["target"] = o.target.string();
      j["shadows"] = io::Json::array();
      if (attack->needs_shadows())
        for (auto& s : inputs.shadows) j["shadows"].push_back(s.path.string());
      // The attack's cost: model inputs evaluated (all of them, and those computed by this run rather
      // than read from the cache) and the process's peak resident memory during the attack.
      j["timing"] = {{"seconds", rep.seconds},
                     {"model_evaluations", forwards},
                     {"model_evaluations_computed", forwards_now},
                     {"peak_rss_bytes", memory.peak()},
                     {"peak_rss_since", memory.since_stage_start() ? "attack start" : "process start"},
                     {"models", models}};
      summaries.push_back(j);
      result.attacks.push_back(rep);
      log::info("mia " + rep.name + ": AUC " + core::exact_number(rep.summary.auc));
    }

    for (int64_t t : o.t_sweep) {
      for (size_t a = 0; a < attacks.size(); ++a) {
        auto at = attacks[a]->at_timestep(t);
        io::Json details;
        auto scores = at->scores(scoring, inputs, details);
        MiaSweepRow row{attacks[a]->name(), t,
                        metrics::summarize(scores, inputs.target.members, {}, o.bootstrap, &ds.ids)};
        io::Json jr = summary_json(row.summary);
        jr["t"] = t;
        summaries[a]["t_sweep"].push_back(jr);
        result.sweep.push_back(row);
      }
    }
    if (!o.t_sweep.empty()) write_sweep_csv(o.out / ("t-sweep-" + o.attack + ".csv"), result.sweep);

    for (size_t a = 0; a < attacks.size(); ++a) {
      summaries[a]["timing"]["run_seconds"] = core::seconds_since(t_run);
      io::write_json(result.attacks[a].dir / "summary.json", summaries[a]);
    }
  });
  return result;
}

}  // namespace diffmem::attack
