// AuditOptions ↔ audit.json through the field lists (io/fields.h): a key they do not have is a
// typo and an error, so a misspelt option never silently falls back to its default.
#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>

#include "diffmem/pipeline/audit_options.h"
#include "diffmem/core/error.h"

namespace diffmem::pipeline {
using io::Json;

AuditOptions::AuditOptions() {
  train.preset = "small";
  train.steps = 3000;
  train.batch = 64;
  sample.sample.sampler = "ddim";
  sample.sample.steps = 50;
  sample.sample.batch = 64;
  // One group holds every generation of an unconditional model, spread over all it memorized, so
  // a clique is smaller than the paper's 10 of 500 generations of one prompt.
  blackbox.analysis.min_clique = 4;
  blackbox.analysis.max_cliques = 0;
  mia.loss.draws = 8;
  mia.loss.batch = 256;
  inpaint.attack.n_targets = 16;
  inpaint.attack.candidates = 8;
  inpaint.attack.keep = 2;
  inpaint.attack.rank_draws = 2;
  inpaint.attack.inpaint.steps = 25;
  extract.top_pairs_png = 32;
  // Text-to-image: the trajectory and filter of experiments/text_to_image (32 generations of each
  // prompt, so a clique of 8 is a quarter of them where the paper asks 10 of 500).
  text.pipeline.steps = 20;
  text.pipeline.guidance_scale = 3;
  text.pipeline.batch = 64;
  text.filter.analysis.min_clique = 8;
}

bool gan_audit(const AuditOptions& o) { return o.target == "gan"; }

bool text_to_image(const AuditOptions& o) {
  if (!o.model.empty()) return std::filesystem::is_regular_file(std::filesystem::path(o.model) / "model_index.json");
  return o.train.conditioning == "text";
}

std::string prompt_label(const AuditOptions& o) {
  if (!o.text.label.empty()) return o.text.label;
  return o.prompts.empty() ? "planted" : "memorized";
}

namespace {

// The stage seeds that derive from the run seed, and the stage each belongs to.
const std::pair<const char*, const char*> kStageSeeds[] = {
    {"/train/seed", "train"}, {"/mia/loss/seed", "mia"}, {"/inpaint/attack/seed", "inpaint"},
    {"/text/mia/seed", "mia"}, {"/gan/seed", "train"}};

// The stages' device fields that the audit's options do not have (one device per run).
const char* const kStageDevices[] = {"train.device", "extract.device", "gan.device"};

Json::json_pointer pointer_of(std::string dotted) {
  std::replace(dotted.begin(), dotted.end(), '.', '/');
  return Json::json_pointer("/" + dotted);
}

bool is_seed(const Json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

void erase_at(Json& j, const Json::json_pointer& p) {
  if (!j.contains(p)) return;
  j[p.parent_pointer()].erase(p.back());
}

// Every key of `j` is an audit option of the right type (the values are checked in context later).
void check_known(const Json& j, const std::string& where) {
  if (j.is_object())
    for (const char* key : kStageDevices)
      if (j.contains(pointer_of(key)))
        fail(where, "a known option (the run's one device is the top-level 'device')",
             "unknown key '" + std::string(key) + "'");
  AuditOptions scratch;
  try {
    io::read_fields(j, scratch);
  } catch (const io::FieldError& e) {
    io::fail_field(where, e);
  }
}

}  // namespace

Json to_json(const AuditOptions& o) {
  Json j = io::fields_json(o);
  for (const char* key : kStageDevices) erase_at(j, pointer_of(key));
  return j;
}

std::vector<std::string> audit_option_keys() {
  std::vector<std::string> keys = io::field_keys<AuditOptions>();
  for (const char* key : kStageDevices)
    keys.erase(std::remove(keys.begin(), keys.end(), key), keys.end());
  return keys;
}

uint64_t stage_seed(uint64_t run_seed, const std::string& stage) {
  (void)stage;  // see the header: the stage's own streams keep its draws apart
  return run_seed;
}

AuditOptions audit_options_from_json(const Json& user, const std::string& where,
                                     const Json& overrides) {
  check_known(user, where);
  check_known(overrides, "command-line flags");
  Json j = to_json(AuditOptions{});
  Json file = user;
  // A stage seed equal to the one the file's own run seed derives was derived (audit.json writes
  // every seed out): dropped here, so that a new run seed from a flag reaches that stage too.
  const Json file_seed = file.value("seed", j["seed"]);
  for (const auto& [ptr, stage] : kStageSeeds) {
    const Json::json_pointer p(ptr);
    if (file.contains(p) && is_seed(file_seed) &&
        file[p] == stage_seed(file_seed.get<uint64_t>(), stage))
      erase_at(file, p);
  }
  io::overlay_json(j, file);
  io::overlay_json(j, overrides);
  if (!is_seed(j["seed"]))
    fail(where + ": seed", "a non-negative integer seed", j["seed"].dump());
  for (const auto& [ptr, stage] : kStageSeeds) {
    const Json::json_pointer p(ptr);
    if (!file.contains(p) && !overrides.contains(p))
      j[p] = stage_seed(j["seed"].get<uint64_t>(), stage);
  }
  return io::read_options<AuditOptions>(j, where);
}

void validate(const AuditOptions& o, const std::string& where) {
  check(o.shadows >= 0, where + ": shadows", "0 or more shadow models", std::to_string(o.shadows));
  check(o.target == "diffusion" || o.target == "gan", where + ": target", "diffusion or gan", "'" + o.target + "'");
  if (gan_audit(o)) {
    train::validate(o.gan, where + ": gan");
    check(o.shadows == 0, where + ": shadows", "0 for a GAN (LiRA's shadow models are diffusion models)",
          std::to_string(o.shadows));
    check(!text_to_image(o), where + ": target", "diffusion for a text-to-image audit", "gan");
  }
  check(o.sample.n >= 1, where + ": sample.n", "at least 1 generation", std::to_string(o.sample.n));
  diffusion::validate(o.sample.sample, where + ": sample");
  diffusion::validate(o.inpaint.attack.inpaint, where + ": inpaint.attack.inpaint");
  metrics::validate(o.mia.bootstrap);
  metrics::validate(o.inpaint.bootstrap);
  quality::validate(o.quality.metrics, where + ": quality.metrics");
  check(o.mia.calibrate_on == 0 || (o.mia.calibrate_on > 0 && o.mia.calibrate_on < 1),
        where + ": mia.calibrate_on", "0 (off) or a fraction in (0, 1)", std::to_string(o.mia.calibrate_on));
  check(o.mia.lira_statistic == "logit" || o.mia.lira_statistic == "raw",
        where + ": mia.lira_statistic", "logit or raw", "'" + o.mia.lira_statistic + "'");
  const std::string& c = o.builtin.captions;
  check(c == "auto" || c == "generated" || c == "none", where + ": builtin.captions", "auto, generated or none",
        "'" + c + "'");
  check(o.builtin.caption_copies == "same" || o.builtin.caption_copies == "varied", where + ": builtin.caption_copies",
        "same or varied", "'" + o.builtin.caption_copies + "'");
  const AuditTextOptions& t = o.text;
  check(t.per_prompt >= 1, where + ": text.per_prompt", "at least 1 generation per prompt", std::to_string(t.per_prompt));
  check(t.screen_per_prompt >= 1, where + ": text.screen_per_prompt", "at least 1 seed per prompt",
        std::to_string(t.screen_per_prompt));
  check(t.screen_top >= 0, where + ": text.screen_top", "0 (every prompt) or more", std::to_string(t.screen_top));
  check(t.screen_detector == "wen" || t.screen_detector == "anisotropy", where + ": text.screen_detector",
        "wen or anisotropy", "'" + t.screen_detector + "'");
  diffusion::validate(t.pipeline, t.probe, where + ": text.pipeline/text.probe");
  attack::validate(t.filter.analysis);
  std::string name;
  for (char ch : t.attacks + ",") {
    if (ch != ',') {
      name += ch;
      continue;
    }
    check(name == "loss" || name == "clid" || name == "secmi" || name == "pia", where + ": text.attacks",
          "a comma list of loss, clid, secmi and pia (lira runs when shadows > 0)", "'" + name + "' in '" + t.attacks + "'");
    if (name == "secmi")
      check(t.mia.secmi_step >= 1 && t.mia.secmi_t >= t.mia.secmi_step && t.mia.secmi_t % t.mia.secmi_step == 0,
            where + ": text.mia.secmi_t", "a positive multiple of text.mia.secmi_step " + std::to_string(t.mia.secmi_step),
            std::to_string(t.mia.secmi_t));
    if (name == "pia")
      check(t.mia.pia_p == 1 || t.mia.pia_p == 2 || t.mia.pia_p == 4, where + ": text.mia.pia_p", "1, 2 or 4",
            std::to_string(t.mia.pia_p));
    name.clear();
  }
}

}  // namespace diffmem::pipeline
