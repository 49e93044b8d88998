// The audit's stage runner: markers, skipping, resuming, wiping what a rerun invalidates.
#include <algorithm>
#include <chrono>

#include "audit_internal.h"
#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/runtime.h"

namespace diffmem::attack {
namespace fs = std::filesystem;
using io::Json;

namespace {

fs::path marker_path(const fs::path& run, const std::string& stage) {
  return run / "stages" / (stage + ".json");
}

// A marker that cannot be read counts as absent: the stage then runs (and resumes) again.
Json read_marker(const fs::path& path) {
  if (!fs::is_regular_file(path)) return Json();
  try {
    Json j = io::read_json(path);
    return j.is_object() ? j : Json();
  } catch (const Error& e) {
    log::warn(std::string(e.what()) + " (running the stage again)");
    return Json();
  }
}

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

}  // namespace

AuditResult run_audit(const fs::path& run, const AuditOptions& options, const std::string& from,
                      const ReportHook& report, const StageFn& on_stage,
                      const ProgressFn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& names = audit_stages();
  const auto from_it = from.empty() ? names.end() : std::find(names.begin(), names.end(), from);
  if (!from.empty() && from_it == names.end()) {
    std::string list;
    for (auto& n : names) list += (list.empty() ? "" : ", ") + n;
    fail("--from", "one of " + list, "'" + from + "'");
  }
  const size_t from_index = static_cast<size_t>(from_it - names.begin());
  if (!options.data.empty() && !fs::is_regular_file(fs::path(options.data) / "manifest.json"))
    fail("--data " + options.data, "a dataset directory (diffmem data import/subset)",
         "no manifest.json there");
  if (!options.model.empty() && !fs::is_directory(options.model))
    fail("--model " + options.model, "a diffusers model folder", "no such folder");
  if (!options.model.empty() && options.data.empty())
    log::warn("--model without --data: the built-in data set is only the model's training set if "
              "it was trained on it; membership results assume so");

  fs::create_directories(run / "stages");
  detail::StageContext c;
  c.options = options;
  c.paths = run_paths(run, options);
  c.device = core::resolve_device(options.device);
  c.report = report;
  c.progress = progress;
  io::write_json(run / "audit.json", to_json(options));
  io::write_json(run / "run.json", to_json(c.paths));

  AuditResult result;
  result.paths = c.paths;
  const auto stages = detail::make_audit_stages();
  const int total = static_cast<int>(stages.size());
  auto emit = [&](const StageEvent& e) {
    if (on_stage) on_stage(e);
  };
  bool upstream_ran = false;
  for (size_t i = 0; i < stages.size(); ++i) {
    const detail::AuditStage& s = *stages[i];
    StageEvent ev;
    ev.stage = s.name();
    ev.index = static_cast<int>(i) + 1;
    ev.total = total;
    const Json key = s.key(c);
    const fs::path mpath = marker_path(run, s.name());
    const Json marker = read_marker(mpath);
    const std::string state = marker.is_object() ? marker.value("state", "") : "";
    const bool same_key = marker.contains("key") && marker["key"] == key;
    const bool forced = i >= from_index;
    if (!forced && !upstream_ran && same_key && (state == "done" || state == "not run")) {
      ev.kind = state == "done" ? StageEvent::Kind::kSkip : StageEvent::Kind::kNotRun;
      ev.detail = marker["detail"].is_string() ? marker["detail"].get<std::string>() : "";
      (state == "done" ? result.skipped : result.not_run).push_back(s.name());
      emit(ev);
      continue;
    }
    // This stage runs: what it left under another key is stale, and everything after it depends
    // on what it is about to produce.
    if (forced || (!marker.is_null() && !same_key)) remove_all(s.outputs(c));
    for (size_t k = i + 1; k < stages.size(); ++k) {
      remove_all(stages[k]->outputs(c));
      remove_all({marker_path(run, stages[k]->name())});
    }
    upstream_ran = true;
    if (auto why = s.not_applicable(c)) {
      io::write_json(mpath, {{"stage", s.name()}, {"key", key}, {"state", "not run"}, {"detail", *why}});
      ev.kind = StageEvent::Kind::kNotRun;
      ev.detail = *why;
      result.not_run.push_back(s.name());
      emit(ev);
      continue;
    }
    io::write_json(mpath, {{"stage", s.name()}, {"key", key}, {"state", "running"}});
    ev.kind = StageEvent::Kind::kStart;
    emit(ev);
    const auto ts = std::chrono::steady_clock::now();
    ev.detail = s.run(c);
    ev.seconds = seconds_since(ts);
    // Last: "done" promises every output of the stage is complete.
    io::write_json(mpath, {{"stage", s.name()},
                           {"key", key},
                           {"state", "done"},
                           {"detail", ev.detail},
                           {"seconds", ev.seconds}});
    ev.kind = StageEvent::Kind::kDone;
    result.ran.push_back(s.name());
    emit(ev);
  }
  result.seconds = seconds_since(t0);
  return result;
}

}  // namespace diffmem::attack
