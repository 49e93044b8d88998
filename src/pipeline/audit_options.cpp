// AuditOptions ↔ audit.json. The defaults' own JSON is the schema: a key it does not have is a
// typo and an error, so a misspelt option never silently falls back to its default.
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
}

namespace {

Json data_json(const AuditDataOptions& o) {
  return {{"source", o.source},       {"src", o.src},
          {"n", o.n},                 {"holdout", o.holdout},
          {"classes", o.classes},     {"duplicate_counts", o.duplicate_counts},
          {"duplicate_picks", o.duplicate_picks}};
}

// Every key of `j` must exist in `schema` (recursively for objects); null or array defaults accept
// anything of their own kind (optional values, lists).
void check_keys(const Json& j, const Json& schema, const std::string& where, const std::string& at) {
  if (!j.is_object()) fail(where, (at.empty() ? std::string("a JSON object") : "an object at " + at),
                           std::string(j.type_name()));
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = at.empty() ? it.key() : at + "." + it.key();
    if (!schema.contains(it.key())) fail(where, "a known option", "unknown key '" + key + "'");
    const Json& s = schema.at(it.key());
    if (s.is_object()) check_keys(it.value(), s, where, key);
  }
}

// The stage seeds that derive from the run seed, and the stage each belongs to.
const std::pair<const char*, const char*> kStageSeeds[] = {
    {"/train/seed", "train"}, {"/mia/loss/seed", "mia"}, {"/inpaint/attack/seed", "inpaint"}};

bool is_seed(const Json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

void erase_at(Json& j, const Json::json_pointer& p) {
  if (!j.contains(p)) return;
  j[p.parent_pointer()].erase(p.back());
}

template <typename T>
void get(const Json& j, const char* key, T& out) {
  if (j.contains(key) && !j.at(key).is_null()) out = j.at(key).get<T>();
}

}  // namespace

Json to_json(const AuditOptions& o) {
  Json sample = diffusion::to_json(o.sample.sample);
  sample["n"] = o.sample.n;
  sample["shard_size"] = o.sample.shard_size;
  Json extract;
  to_json(extract, o.extract);
  Json blackbox;
  to_json(blackbox, o.blackbox);
  // The run has one device (the top-level key); stages take it from there.
  Json train = train::to_json(o.train);
  train.erase("device");
  extract.erase("device");
  return {{"data", o.data},
          {"model", o.model},
          {"seed", o.seed},
          {"device", o.device},
          {"builtin", data_json(o.builtin)},
          {"train", train},
          {"shadows", o.shadows},
          {"sample", sample},
          {"extract", extract},
          {"blackbox", blackbox},
          {"mia",
           {{"loss", to_json(o.mia.loss)},
            {"lira_statistic", o.mia.lira_statistic},
            {"lira_global_variance", o.mia.lira_global_variance}}},
          {"inpaint",
           {{"attack", to_json(o.inpaint.attack)},
            {"show", o.inpaint.show},
            {"strip_scale", o.inpaint.strip_scale}}}};
}

uint64_t stage_seed(uint64_t run_seed, const std::string& stage) {
  (void)stage;  // see the header: the stage's own streams keep its draws apart
  return run_seed;
}

AuditOptions audit_options_from_json(const Json& user, const std::string& where,
                                     const Json& overrides) {
  const AuditOptions defaults;
  Json j = to_json(defaults);
  check_keys(user, j, where, "");
  check_keys(overrides, j, "command-line flags", "");
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
  AuditOptions o;
  try {
    get(j, "data", o.data);
    get(j, "model", o.model);
    get(j, "seed", o.seed);
    get(j, "device", o.device);
    get(j, "shadows", o.shadows);
    const Json& b = j.at("builtin");
    get(b, "source", o.builtin.source);
    get(b, "src", o.builtin.src);
    get(b, "n", o.builtin.n);
    get(b, "holdout", o.builtin.holdout);
    get(b, "classes", o.builtin.classes);
    get(b, "duplicate_counts", o.builtin.duplicate_counts);
    get(b, "duplicate_picks", o.builtin.duplicate_picks);
    o.train = train::train_options_from_json(j.at("train"), where + ": train");
    const Json& s = j.at("sample");
    o.sample.sample = diffusion::sample_options_from_json(s, where + ": sample");
    get(s, "n", o.sample.n);
    get(s, "shard_size", o.sample.shard_size);
    from_json(j.at("extract"), o.extract);
    const Json& bb = j.at("blackbox");
    from_json(bb.at("analysis"), o.blackbox.analysis);
    get(bb, "grid_members", o.blackbox.grid_members);
    get(bb, "reuse", o.blackbox.reuse);
    const Json& m = j.at("mia");
    const Json& l = m.at("loss");
    get(l, "t", o.mia.loss.t);
    get(l, "draws", o.mia.loss.draws);
    get(l, "flip", o.mia.loss.flip);
    get(l, "seed", o.mia.loss.seed);
    get(l, "batch", o.mia.loss.batch);
    get(m, "lira_statistic", o.mia.lira_statistic);
    get(m, "lira_global_variance", o.mia.lira_global_variance);
    const Json& ip = j.at("inpaint");
    const Json& a = ip.at("attack");
    get(a, "mask", o.inpaint.attack.mask);
    get(a, "candidates", o.inpaint.attack.candidates);
    get(a, "keep", o.inpaint.attack.keep);
    get(a, "n_targets", o.inpaint.attack.n_targets);
    get(a, "seed", o.inpaint.attack.seed);
    get(a, "rank_t", o.inpaint.attack.rank_t);
    get(a, "rank_draws", o.inpaint.attack.rank_draws);
    o.inpaint.attack.inpaint =
        diffusion::inpaint_options_from_json(a.at("inpaint"), where + ": inpaint.attack.inpaint");
    get(ip, "show", o.inpaint.show);
    get(ip, "strip_scale", o.inpaint.strip_scale);
  } catch (const nlohmann::json::exception& e) {
    fail(where, "audit options of the right types", e.what());
  }
  check(o.shadows >= 0, where + ": shadows", "0 or more shadow models", std::to_string(o.shadows));
  check(o.sample.n >= 1, where + ": sample.n", "at least 1 generation", std::to_string(o.sample.n));
  check(o.mia.lira_statistic == "logit" || o.mia.lira_statistic == "raw",
        where + ": mia.lira_statistic", "logit or raw", "'" + o.mia.lira_statistic + "'");
  return o;
}

}  // namespace diffmem::pipeline
