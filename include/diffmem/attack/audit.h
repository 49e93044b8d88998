#pragma once
// `diffmem audit`: the whole pipeline in one run directory, one command.
//
//   data → train → sample → extract → blackbox → mia → inpaint → report
//
// The run directory (every path inside it is the audit's own; --data and --model stay untouched):
//   audit.json            the AuditOptions used (a later `diffmem audit --run DIR` reuses them)
//   run.json              where each stage's inputs and outputs are (the report reads it)
//   stages/<stage>.json   a stage's key (the options it depends on) and its state; "done" is
//                         written last, after every output of the stage is complete
//   data/                 the built-in data set (members.npy: the rows the target trains on)
//   train-data/           the member rows alone: the training set extraction searches
//   model/                the target model (diffusers folder, members.npy over data/)
//   shadows/model-NNN/    LiRA's shadow models (shadows > 0)
//   samples/              generations (data/generations.h shards)
//   extract/ blackbox/ mia/ inpaint/   each attack's files (see its header)
//   report.html, summary.json          the report (report/report.h; written by a hook)
//
// A stage is skipped when its marker says done under the same key. A stage that runs first wipes
// its own outputs if an earlier attempt ran under another key (a half-finished attempt under the
// same key is resumed by the stage itself: training checkpoints, sample shards, extraction shards,
// cached MIA errors, finished inpainting targets), and wipes every later stage's outputs and
// markers, whose results depended on it. `from` forces a stage and those after it to run afresh.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "diffmem/attack/blackbox_run.h"
#include "diffmem/attack/extract.h"
#include "diffmem/attack/inpaint_attack.h"
#include "diffmem/attack/mia_lira.h"
#include "diffmem/attack/mia_scores.h"
#include "diffmem/core/progress.h"
#include "diffmem/diffusion/sampler.h"
#include "diffmem/io/json.h"
#include "diffmem/train/trainer.h"

namespace diffmem::attack {

/// The built-in data set when no --data is given: `n` distinct Fashion-MNIST training images
/// (members) with planted duplicates among them, and `holdout` other distinct images that the
/// model never sees (the non-members of membership inference and inpainting).
struct AuditDataOptions {
  std::string source = "fashion-mnist";   // data::ImportOptions::source
  std::string src;                        // empty = data::default_source_dir(source)
  int64_t n = 64;                         // distinct member images
  int64_t holdout = 64;                   // distinct non-member images
  std::vector<int64_t> classes;           // labels to draw from; empty = all
  std::vector<int64_t> duplicate_counts = {1, 2, 4, 8, 16};
  int64_t duplicate_picks = 1;            // member images planted per count
};

struct AuditSampleOptions {
  int64_t n = 256;              // generations
  int64_t shard_size = 1024;
  diffusion::SampleOptions sample;  // default ddim, 50 steps (set in AuditOptions' constructor)
};

struct AuditMiaOptions {
  LossScoreOptions loss;        // the loss attack (and LiRA's statistic)
  std::string lira_statistic = "logit";
  bool lira_global_variance = false;
};

struct AuditInpaintOptions {
  InpaintAttackOptions attack;  // defaults sized for a CPU (set in AuditOptions' constructor)
  int64_t show = 4;             // strips per group
  int64_t strip_scale = 2;
};

struct AuditOptions {
  AuditOptions();

  std::string data;    // dataset directory; empty = the built-in data set (`builtin`)
  std::string model;   // a trained diffusers model folder; empty = train one (`train`)
  uint64_t seed = 0;   // every stage's seed derives from it unless set in the stage's options
  AuditDataOptions builtin;
  train::TrainOptions train;
  int64_t shadows = 0;  // K > 0: train K shadow models on seeded halves of data/ and run LiRA
  AuditSampleOptions sample;
  ExtractOptions extract;
  BlackboxRunOptions blackbox;
  AuditMiaOptions mia;
  AuditInpaintOptions inpaint;
  std::string device = "cpu";  // cpu | cuda | auto; not part of any stage's key
};

io::Json to_json(const AuditOptions& o);
/// Defaults overlaid with `j` (missing keys keep their defaults). Throws diffmem::Error naming
/// `where` and the key for an unknown key (a typo would otherwise be silently ignored) or a value
/// of the wrong type.
AuditOptions audit_options_from_json(const io::Json& j, const std::string& where);

/// data, train, sample, extract, blackbox, mia, inpaint, report.
const std::vector<std::string>& audit_stages();

/// Paths of one run directory, as run.json records them.
struct RunPaths {
  std::filesystem::path run;
  std::filesystem::path data;        // the data set the model's members.npy indexes
  std::filesystem::path train_data;  // the training images alone (extraction's reference)
  std::filesystem::path model;
  std::filesystem::path shadows;
  std::filesystem::path samples, extract, blackbox, mia, inpaint;
  std::filesystem::path report;      // report.html
};

/// The paths for `run` under `options` (a given --data / --model is used where it is).
RunPaths run_paths(const std::filesystem::path& run, const AuditOptions& options);
io::Json to_json(const RunPaths& p);

struct StageEvent {
  std::string stage;
  int index = 0;             // 1-based position in audit_stages()
  int total = 0;
  enum class Kind { kStart, kSkip, kDone, kNotRun } kind = Kind::kStart;
  std::string detail;        // why a stage is skipped or not run; a one-line result when done
  double seconds = 0;        // kDone
};
using StageFn = std::function<void(const StageEvent&)>;

/// The report stage's work (the attack layer cannot call the report layer; the CLI passes it).
/// Returns a one-line description of what it wrote.
using ReportHook = std::function<std::string(const RunPaths&)>;

struct AuditResult {
  RunPaths paths;
  std::vector<std::string> ran;      // stages that ran in this call
  std::vector<std::string> skipped;  // complete already
  std::vector<std::string> not_run;  // not applicable (e.g. MIA without non-members)
  double seconds = 0;
};

/// Runs the pipeline in `run` (created if missing). `from` = "" or a stage name: that stage and
/// every later one run afresh. Writes audit.json and run.json first. Throws diffmem::Error naming
/// the stage's file or option on failure (earlier stages stay done; a rerun resumes).
AuditResult run_audit(const std::filesystem::path& run, const AuditOptions& options,
                      const std::string& from = "", const ReportHook& report = nullptr,
                      const StageFn& on_stage = nullptr, const ProgressFn& progress = nullptr);

}  // namespace diffmem::attack
