#pragma once
// `diffmem audit`: the whole pipeline in one run directory, one command.
//
//   data → train → sample → extract → screen → blackbox → mia → inpaint → quality → report
//
// A text-to-image model (a pipeline folder as --model, or --conditioning text) runs its own
// attacks through the same stages: data (captions; prompts.csv written from them unless --prompts
// is given), train (UNet2DConditionModel), screen (first-step detectors over every prompt),
// blackbox (native generate-and-filter, behind the screen when text.screen_top is set), mia (loss
// and CLiD); sample, extract and inpaint do not apply and say so. A pixel model's screen does not
// apply.
//
// The run directory is report/run_dir.h's (every path inside it is the audit's own; --data and
// --model stay untouched):
//   data/                 the built-in data set (members.npy: the rows the target trains on)
//   train-data/           the member rows alone: the training set extraction searches
//   model/                the target model (diffusers folder, members.npy over data/)
//   shadows/model-NNN/    LiRA's shadow models (shadows > 0)
//   samples/              generations (data/generations.h shards)
//   prompts/              text-to-image: prompts.csv and images/ (data::write_caption_prompts)
//   screen/               text-to-image: the screen's screen.csv, summary.json (attack/screen.h)
//   extract/ blackbox/ mia/ inpaint/   each attack's files (see its header)
//   quality/              sample quality (quality.features named): summary.json, reference-stats/,
//                         generated-stats/ (quality/quality_run.h)
//   report.html, summary.json          the report (report/report.h)
//
// A stage is skipped when its marker says done under the same key. A stage that runs first wipes
// its own outputs if an earlier attempt ran under another key (a half-finished attempt under the
// same key is resumed by the stage itself: training checkpoints, sample shards, extraction shards,
// cached MIA errors, finished inpainting targets), and wipes every later stage's outputs and
// markers, whose results depended on it (a stage that does not apply, now or before, wipes
// nothing later). `from` forces a stage and those after it to run afresh.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "diffmem/dist/communicator.h"
#include "diffmem/core/progress.h"
#include "diffmem/pipeline/audit_options.h"
#include "diffmem/report/run_dir.h"

namespace diffmem::pipeline {

/// data, train, sample, extract, screen, blackbox, mia, inpaint, quality, report.
const std::vector<std::string>& audit_stages();

/// The run directory for `run` under `options` (a given --data / --model is used where it is).
report::RunDir audit_run_dir(const std::filesystem::path& run, const AuditOptions& options);

struct StageEvent {
  std::string stage;
  int index = 0;             // 1-based position in audit_stages()
  int total = 0;
  enum class Kind { kStart, kSkip, kDone, kNotRun } kind = Kind::kStart;
  std::string detail;        // why a stage is skipped or not run; a one-line result when done
  double seconds = 0;        // kDone
};
using StageFn = std::function<void(const StageEvent&)>;

struct AuditResult {
  report::RunDir paths;
  std::vector<std::string> ran;      // stages that ran in this call
  std::vector<std::string> skipped;  // complete already
  std::vector<std::string> not_run;  // not applicable (e.g. MIA without non-members)
  double seconds = 0;
};

/// Checks what the run will need before any stage runs: `from`, the given --data and --model
/// folders, and (when both a model and data are known) that the model's image shape matches the
/// data's. Throws diffmem::Error naming the flag or file.
void check_audit(const AuditOptions& options, const std::string& from = "");

/// Runs the pipeline in `run` (created if missing). `from` = "" or a stage name: that stage and
/// every later one run afresh. check_audit first, then writes audit.json and run.json. Throws
/// diffmem::Error naming the stage's file or option on failure (earlier stages stay done; a rerun
/// resumes).
///
/// With several ranks (`comm`, an MPI job; pixel diffusion audits only) the train stage's shadow
/// models, the sample, extract and membership stages split their work as their commands do
/// (rank 0 trains the target), rank 0 runs the other stages and writes every marker and the
/// report; the run directory ends as one process leaves it. `on_stage` is called on rank 0 only.
AuditResult run_audit(const std::filesystem::path& run, const AuditOptions& options,
                      const std::string& from = "", const StageFn& on_stage = nullptr,
                      const ProgressFn& progress = nullptr, const dist::Communicator& comm = dist::single());

}  // namespace diffmem::pipeline
