#pragma once
// One membership-inference run as `diffmem mia` performs it: load the data, the target (its
// members.npy is the ground truth) and the shadow models, run the attacks, and write per attack
//   OUT/<attack>/scores.csv    row,id,score,member (score: higher = more likely a member)
//   OUT/<attack>/roc.csv       the ROC (metrics::write_roc_csv, compacted)
//   OUT/<attack>/summary.json  AUC, TPR@0.1%/1% FPR, balanced accuracy with bootstrap intervals,
//                              the calibrated-threshold protocol (--calibrate-on), the split check,
//                              options, and the cost (seconds, model evaluations, peak memory)
//   OUT/<attack>/roc_band.csv  the ROC's pointwise bootstrap band (metrics/bootstrap.h)
//   OUT/split-check.json       the model-free baseline on the same members and non-members
// plus OUT/cache/ (per-model errors, reused by later runs) and, with a t-sweep,
// OUT/t-sweep-<kind>.csv. The ROC figure of all attacks in OUT is drawn by the CLI (report layer).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/attack/mia_attack.h"
#include "diffmem/core/progress.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/metrics/roc.h"

namespace diffmem::attack {

struct MiaRunOptions {
  std::string attack = "loss";         // loss | lira | secmi | pia
  std::filesystem::path data;          // dataset directory (the rows the models' masks index)
  std::filesystem::path target;        // model folder (or TorchScript file with load.format)
  std::filesystem::path shadows;       // folder of model folders, each with members.npy (LiRA)
  std::filesystem::path members;       // ground truth: a members.npy or a folder holding one;
                                       // empty = the target's folder (the file's folder for TorchScript)
  std::filesystem::path out;
  LossScoreOptions loss;
  SecMiOptions secmi;
  PiaOptions pia;
  /// LiRA: which per-example statistic the Gaussians are fitted to (loss | secmi | pia), which
  /// transform of it, and the variance model; both the online and the offline variant are run.
  std::string lira_base = "loss";
  std::string lira_statistic = "logit";
  bool lira_global_variance = false;
  std::vector<int64_t> t_sweep;        // also evaluate the attacks at each of these timesteps
  model::LoadDenoiserOptions load;
  metrics::BootstrapOptions bootstrap; // intervals of every ROC number (resamples 0 = none)
  double calibrate_on = 0;             // > 0: fix thresholds on this share, report the rest
  bool split_check = true;             // the model-free baseline on the same split (split_check.h)
};

DIFFMEM_VISIT_FIELDS(MiaRunOptions) {
  v("attack", o.attack);
  v("data", o.data);
  v("target", o.target);
  v("shadows", o.shadows);
  v("members", o.members);
  v("out", o.out);
  v("loss", o.loss);
  v("secmi", o.secmi);
  v("pia", o.pia);
  v("lira_base", o.lira_base);
  v("lira_statistic", o.lira_statistic);
  v("lira_global_variance", o.lira_global_variance);
  v("t_sweep", o.t_sweep);
  v("format", o.load.format);
  v("device", o.load.device);
  v("bootstrap", o.bootstrap);
  v("calibrate_on", o.calibrate_on);
  v("split_check", o.split_check);
}

struct MiaAttackReport {
  std::string name;
  std::filesystem::path dir;
  metrics::RocSummary summary;
  double seconds = 0;
};

struct MiaSweepRow {
  std::string attack;
  int64_t t = 0;
  metrics::RocSummary summary;
};

struct MiaRunResult {
  std::vector<MiaAttackReport> attacks;
  std::vector<MiaSweepRow> sweep;
  int64_t members = 0;
  int64_t nonmembers = 0;
  int64_t shadows = 0;
};

/// The model folders inside `dir` (those holding config.json), sorted by name, leaving out
/// `exclude` (the target, when it lives among them). Throws naming `dir` when it is not a folder.
std::vector<std::filesystem::path> list_model_folders(const std::filesystem::path& dir,
                                                      const std::filesystem::path& exclude);

/// The attacks `options.attack` names (lira → lira-online and lira-offline).
std::vector<std::unique_ptr<MembershipAttack>> make_attacks(const MiaRunOptions& options);

/// Runs everything above. Errors (missing members.npy, mismatched lengths, no shadows for LiRA, a
/// target with no members or no non-members) are diffmem::Errors naming the file or flag.
MiaRunResult run_mia(const MiaRunOptions& options, const ProgressFn& progress = nullptr,
                     const dist::Communicator& comm = dist::single());

/// The member mask at `path`: a bool members.npy of n rows, or a folder holding one; errors name the
/// file.
std::vector<bool> read_member_mask(const std::filesystem::path& path, int64_t n);

/// The model-free split check (split_check.h) on these members, written to out/split-check.json
/// (or {"skipped": why} when the data cannot be checked); returns what it wrote.
io::Json write_split_check(const data::Dataset& ds, const std::vector<bool>& members,
                           const metrics::BootstrapOptions& bootstrap, const std::filesystem::path& out);

/// One attack's files in out/<name>/ (scores.csv, roc.csv, roc_band.csv) and the start of its
/// summary.json: the ROC summary with intervals, the calibrated protocol when calibrate_on > 0, the
/// split check's brief, the attack's name; `report` gets name, dir and summary. Every attack —
/// on diffusion models or on GANs — reports through it.
io::Json write_attack_scores(const std::filesystem::path& out, const std::string& name, const data::Dataset& ds,
                             const std::vector<double>& scores, const std::vector<bool>& members,
                             const metrics::BootstrapOptions& bootstrap, double calibrate_on, const io::Json& split,
                             MiaAttackReport& report);

/// Writes row,id,score,member (17 significant digits) atomically.
void write_scores_csv(const std::filesystem::path& path, const data::Dataset& ds,
                      const std::vector<double>& scores, const std::vector<bool>& members);

}  // namespace diffmem::attack
