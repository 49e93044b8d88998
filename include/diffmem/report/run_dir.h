#pragma once
// The run directory of `diffmem audit`: the one contract between the pipeline, which writes
// through it, and the report, which reads it. Torch-free.
//
//   audit.json            the audit options used (a later `diffmem audit --run DIR` reuses them)
//   run.json              where each stage's inputs and outputs are (paths inside the run are
//                         stored relative to it, so a run directory can be moved)
//   stages/<stage>.json   a stage's marker: its key (the options it depends on) and its state;
//                         "done" is written last, after every output of the stage is complete
//   data/ train-data/ model/ shadows/ samples/ extract/ blackbox/ mia/ inpaint/ quality/   stage outputs
//   prompts/ screen/      a text-to-image audit's prompts (when it writes them) and screen
//   report.html, summary.json                                                      the report
#include <filesystem>
#include <optional>
#include <string>

#include "diffmem/io/json.h"

namespace diffmem::report {

/// Where a run's inputs and outputs are.
struct RunDir {
  std::filesystem::path run;
  std::filesystem::path data;        // the data set the model's members.npy indexes
  std::filesystem::path train_data;  // the training images alone (extraction's reference)
  std::filesystem::path model;
  std::filesystem::path shadows;
  std::filesystem::path prompts;     // text-to-image: the prompts folder the data stage writes
  std::filesystem::path samples, extract, screen, blackbox, mia, inpaint, quality;
  std::filesystem::path report;      // report.html
  std::filesystem::path summary;     // summary.json

  std::filesystem::path audit_json() const { return run / "audit.json"; }
  std::filesystem::path run_json() const { return run / "run.json"; }
  std::filesystem::path marker(const std::string& stage) const {
    return run / "stages" / (stage + ".json");
  }
  /// Whether `p` lies inside the run (the audit's own, which it may rewrite or remove; a given
  /// --data or --model never does).
  bool holds(const std::filesystem::path& p) const;
};

/// Every path at its place inside `run` (the layout when run.json says nothing else).
RunDir default_run_dir(const std::filesystem::path& run);

/// run.json's paths over the default layout. Throws diffmem::Error naming the folder when `run`
/// is not one, and run.json when it is not an object of paths.
RunDir read_run_dir(const std::filesystem::path& run);

/// run.json's content: paths inside the run relative to it, others absolute.
io::Json to_json(const RunDir& d);
/// Writes run.json (atomically).
void write_run_dir(const RunDir& d);

/// A stage's state in its marker.
enum class StageState { kRunning, kDone, kNotRun };

struct StageMarker {
  std::string stage;
  io::Json key;             // the options the stage's result depends on
  StageState state = StageState::kRunning;
  std::string detail;       // a one-line result (done) or why the stage does not apply (not run)
  double seconds = 0;       // done
};

/// The marker of `stage`; nullopt when there is none, or (with a warning) when it cannot be read,
/// so that the stage runs, and resumes, again.
std::optional<StageMarker> read_stage_marker(const RunDir& d, const std::string& stage);

/// Writes the marker atomically (stages/ is created).
void write_stage_marker(const RunDir& d, const StageMarker& m);

/// The reason a stage's marker gives for a stage that did not run or did not finish; "" if none.
std::string stage_note(const RunDir& d, const std::string& stage);

}  // namespace diffmem::report
