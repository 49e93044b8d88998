// The audit's stage runner: markers, skipping, resuming, wiping what a rerun invalidates.
#include "diffmem/pipeline/audit.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include "audit_internal.h"
#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/runtime.h"

namespace diffmem::pipeline {
namespace fs = std::filesystem;
using io::Json;
using report::StageMarker;
using report::StageState;

namespace {

void remove_all(const std::vector<fs::path>& paths) {
  for (const fs::path& p : paths) {
    std::error_code ec;
    fs::remove_all(p, ec);
    if (ec) fail(p.string(), "a removable output of an earlier run", ec.message());
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Position of `from` in audit_stages() (check_audit has refused an unknown name); the end when empty.
size_t from_index(const std::string& from) {
  const auto& names = audit_stages();
  return static_cast<size_t>(std::find(names.begin(), names.end(), from) - names.begin());
}

}  // namespace

const std::vector<std::string>& audit_stages() {
  static const std::vector<std::string> s = {"data", "train",   "sample",  "extract", "screen", "blackbox",
                                             "mia",  "inpaint", "quality", "report"};
  return s;
}

report::RunDir audit_run_dir(const fs::path& run, const AuditOptions& o) {
  report::RunDir p = report::default_run_dir(run);
  if (!o.data.empty()) p.data = o.data;
  // A data set without a member mask is trained on whole, so it is its own training set.
  if (!o.data.empty() && !fs::exists(p.data / "members.npy")) p.train_data = p.data;
  if (!o.model.empty()) p.model = o.model;
  return p;
}

AuditResult run_audit(const fs::path& run, const AuditOptions& options, const std::string& from,
                      const StageFn& on_stage, const ProgressFn& progress, const dist::Communicator& comm) {
  const auto t0 = std::chrono::steady_clock::now();
  // Every rank checks everything before the first stage; rank 0 alone writes what is written once
  // (the run's files, markers, removals) and runs the stages that do not split, while the others
  // wait for it at the next collective. Each step is collective, so every rank reads the markers
  // rank 0 wrote before it, and an error anywhere stops every rank at the same point.
  const bool root = comm.rank() == 0;
  detail::StageContext c;
  dist::collectively(comm, [&] {
    check_audit(options, from);
    if (comm.size() > 1 && (text_to_image(options) || gan_audit(options)))
      fail("mpirun/srun", "an audit of a pixel diffusion model (text-to-image and GAN audits run in one process)",
           std::to_string(comm.size()) + " ranks");
    c.options = options;
    c.paths = audit_run_dir(run, options);
    c.device = core::resolve_device(options.device);
    c.progress = progress;
    c.comm = &comm;
    if (!root) return;
    if (!options.model.empty() && options.data.empty())
      log::warn("--model without --data: the built-in data set is only the model's training set if "
                "it was trained on it; membership results assume so");
    fs::create_directories(run / "stages");
    io::write_json(c.paths.audit_json(), to_json(options));
    report::write_run_dir(c.paths);
  });
  const size_t first_forced = from_index(from);

  AuditResult result;
  result.paths = c.paths;
  const auto stages = detail::make_audit_stages();
  const int total = static_cast<int>(stages.size());
  auto emit = [&](const StageEvent& e) {
    if (on_stage && root) on_stage(e);
  };
  // Rank 0's side effects, once every rank has read the state they change.
  auto on_root = [&](const std::function<void()>& fn) {
    comm.barrier();
    dist::collectively(comm, [&] {
      if (root) fn();
    });
  };
  bool upstream_ran = false;
  for (size_t i = 0; i < stages.size(); ++i) {
    const detail::AuditStage& s = *stages[i];
    StageEvent ev;
    ev.stage = s.name();
    ev.index = static_cast<int>(i) + 1;
    ev.total = total;
    StageMarker m;
    m.stage = s.name();
    std::optional<StageMarker> old;
    std::optional<std::string> why;
    dist::collectively(comm, [&] {
      m.key = s.key(c);
      old = report::read_stage_marker(c.paths, s.name());
    });
    const bool same_key = old && old->key == m.key;
    const bool finished = old && old->state != StageState::kRunning;
    if (i < first_forced && !upstream_ran && same_key && finished) {
      const bool done = old->state == StageState::kDone;
      ev.kind = done ? StageEvent::Kind::kSkip : StageEvent::Kind::kNotRun;
      ev.detail = old->detail;
      (done ? result.skipped : result.not_run).push_back(s.name());
      emit(ev);
      continue;
    }
    dist::collectively(comm, [&] { why = s.not_applicable(c); });
    // A stage that does not apply and produced nothing before either (no marker: a stage added
    // to the pipeline after the run was made) changes nothing that later stages read.
    if (why && (!old || old->state == StageState::kNotRun)) {
      m.state = StageState::kNotRun;
      m.detail = *why;
      on_root([&] {
        if (i >= first_forced || (old && !same_key)) remove_all(s.outputs(c));
        report::write_stage_marker(c.paths, m);
      });
      ev.kind = StageEvent::Kind::kNotRun;
      ev.detail = *why;
      result.not_run.push_back(s.name());
      emit(ev);
      continue;
    }
    // This stage runs: what it left under another key is stale, and everything after it depends
    // on what it is about to produce.
    upstream_ran = true;
    if (why) {
      m.state = StageState::kNotRun;
      m.detail = *why;
    } else {
      m.state = StageState::kRunning;
    }
    on_root([&] {
      if (i >= first_forced || (old && !same_key)) remove_all(s.outputs(c));
      for (size_t k = i + 1; k < stages.size(); ++k) {
        remove_all(stages[k]->outputs(c));
        remove_all({c.paths.marker(stages[k]->name())});
      }
      report::write_stage_marker(c.paths, m);
    });
    if (why) {
      ev.kind = StageEvent::Kind::kNotRun;
      ev.detail = *why;
      result.not_run.push_back(s.name());
      emit(ev);
      continue;
    }
    ev.kind = StageEvent::Kind::kStart;
    emit(ev);
    const auto ts = std::chrono::steady_clock::now();
    dist::collectively(comm, [&] {
      if (root || s.splits()) ev.detail = s.run(c);
    });
    ev.seconds = seconds_since(ts);
    // Last: "done" promises every output of the stage is complete.
    m.state = StageState::kDone;
    m.detail = ev.detail;
    m.seconds = ev.seconds;
    on_root([&] { report::write_stage_marker(c.paths, m); });
    ev.kind = StageEvent::Kind::kDone;
    result.ran.push_back(s.name());
    emit(ev);
  }
  result.seconds = seconds_since(t0);
  return result;
}

}  // namespace diffmem::pipeline
