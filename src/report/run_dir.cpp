#include "diffmem/report/run_dir.h"

#include "diffmem/core/error.h"
#include "diffmem/core/log.h"

namespace diffmem::report {
namespace fs = std::filesystem;
using io::Json;

namespace {

struct Field {
  const char* key;
  fs::path RunDir::*path;
  const char* where;  // default place inside the run
};

// run.json's keys, in the order it lists them.
const Field kFields[] = {
    {"data", &RunDir::data, "data"},           {"train_data", &RunDir::train_data, "train-data"},
    {"model", &RunDir::model, "model"},        {"shadows", &RunDir::shadows, "shadows"},
    {"prompts", &RunDir::prompts, "prompts"},  {"samples", &RunDir::samples, "samples"},
    {"extract", &RunDir::extract, "extract"},  {"screen", &RunDir::screen, "screen"},
    {"blackbox", &RunDir::blackbox, "blackbox"}, {"mia", &RunDir::mia, "mia"},
    {"inpaint", &RunDir::inpaint, "inpaint"},  {"quality", &RunDir::quality, "quality"},
    {"report", &RunDir::report, "report.html"},
    {"summary", &RunDir::summary, "summary.json"},
};

const char* state_name(StageState s) {
  switch (s) {
    case StageState::kRunning: return "running";
    case StageState::kDone: return "done";
    case StageState::kNotRun: return "not run";
  }
  return "running";
}

}  // namespace

bool RunDir::holds(const fs::path& p) const {
  const fs::path r = p.lexically_relative(run);
  return !r.empty() && *r.begin() != "..";
}

RunDir default_run_dir(const fs::path& run) {
  RunDir d;
  d.run = run;
  for (const Field& f : kFields) d.*f.path = run / f.where;
  return d;
}

RunDir read_run_dir(const fs::path& run) {
  if (!fs::is_directory(run)) fail(run.string(), "a run directory (diffmem audit --run)", "no such folder");
  RunDir d = default_run_dir(run);
  if (!fs::is_regular_file(d.run_json())) return d;
  const Json paths = io::read_json(d.run_json());
  if (!paths.is_object()) fail(d.run_json().string(), "a JSON object of paths", paths.type_name());
  for (const Field& f : kFields) {
    const Json v = paths.value(f.key, Json());
    if (!v.is_string()) continue;
    const fs::path p(v.get<std::string>());
    d.*f.path = p.is_absolute() ? p : run / p;
  }
  return d;
}

Json to_json(const RunDir& d) {
  auto rel = [&](const fs::path& x) {
    return d.holds(x) ? x.lexically_relative(d.run).string() : fs::absolute(x).string();
  };
  Json j = Json::object();
  for (const Field& f : kFields) j[f.key] = rel(d.*f.path);
  return j;
}

void write_run_dir(const RunDir& d) { io::write_json(d.run_json(), to_json(d)); }

namespace {

// The marker at `p`, or nullopt with `why` set when it cannot be read as one.
std::optional<StageMarker> parse_marker(const fs::path& p, const std::string& stage, std::string& why) {
  Json j;
  try {
    j = io::read_json(p);
  } catch (const Error& e) {
    why = e.what();
    return std::nullopt;
  }
  if (!j.is_object()) {
    why = p.string() + ": expected a JSON object, found " + j.type_name();
    return std::nullopt;
  }
  StageMarker m;
  m.stage = stage;
  m.key = j.value("key", Json());
  const Json state = j.value("state", Json());
  m.state = state == "done" ? StageState::kDone : state == "not run" ? StageState::kNotRun
                                                                     : StageState::kRunning;
  if (j.contains("detail") && j["detail"].is_string()) m.detail = j["detail"].get<std::string>();
  const Json t = j.value("timing", Json::object());
  if (t.is_object() && t.contains("seconds") && t["seconds"].is_number()) m.seconds = t["seconds"].get<double>();
  return m;
}

}  // namespace

std::optional<StageMarker> read_stage_marker(const RunDir& d, const std::string& stage) {
  const fs::path p = d.marker(stage);
  if (!fs::is_regular_file(p)) return std::nullopt;
  std::string why;
  std::optional<StageMarker> m = parse_marker(p, stage, why);
  if (!m) log::warn(why + " (running the stage again)");
  return m;
}

void write_stage_marker(const RunDir& d, const StageMarker& m) {
  Json j = {{"stage", m.stage}, {"key", m.key}, {"state", state_name(m.state)}};
  if (m.state != StageState::kRunning) j["detail"] = m.detail;
  if (m.state == StageState::kDone) j["timing"] = {{"seconds", m.seconds}};
  fs::create_directories(d.marker(m.stage).parent_path());
  io::write_json(d.marker(m.stage), j);
}

std::string stage_note(const RunDir& d, const std::string& stage) {
  const fs::path p = d.marker(stage);
  if (!fs::is_regular_file(p)) return "";
  std::string why;  // an unreadable marker only loses the reason; the section still says "not run"
  const std::optional<StageMarker> m = parse_marker(p, stage, why);
  if (!m) return "";
  if (m->state == StageState::kNotRun) return m->detail;
  if (m->state == StageState::kRunning) return "started but not finished (rerun the audit to resume)";
  return "";
}

}  // namespace diffmem::report
