#include "diffmem/attack/mia_attack.h"

#include <chrono>
#include <cstdio>

#include "diffmem/core/clock.h"
#include "diffmem/core/content_hash.h"
#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/io/array.h"
#include "diffmem/io/npy.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

namespace {

// A file by name, size and content hash: the same bytes moved elsewhere keep their cache entries.
io::Json file_identity(const fs::path& p) {
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  if (ec) fail(p.string(), "a readable file", "none (" + ec.message() + ")");
  return {{"file", p.filename().string()},
          {"size", static_cast<uint64_t>(size)},
          {"fnv1a", core::hex64(core::fnv1a_file(p))}};
}

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out.empty() ? "model" : out;
}

}  // namespace

io::Json model_identity(const fs::path& model, const std::string& format) {
  std::error_code ec;
  if (!fs::exists(model, ec)) fail(model.string(), "a model (folder or file)", "nothing there");
  io::Json j = {{"format", format}};
  if (format == "torchscript") {
    j["files"] = io::Json::array({file_identity(model)});
  } else {
    auto files = model::find_diffusers_files(model);
    j["files"] = io::Json::array({file_identity(files.config), file_identity(files.weights)});
  }
  return j;
}

ModelScoring::ModelScoring(const data::Dataset& ds, fs::path cache_dir,
                           model::LoadDenoiserOptions load, ProgressFn progress)
    : ds_(ds), cache_dir_(std::move(cache_dir)),
      load_(std::move(load)), progress_(std::move(progress)) {
  // The rows scored, by content (members.npy changes no error, so it stays out).
  uint64_t h = core::fnv1a(ds_.images.bytes.data(), ds_.images.bytes.size());
  h = core::fnv1a(ds_.ids.data(), ds_.ids.size() * sizeof(int64_t), h);
  h = core::fnv1a(ds_.labels.data(), ds_.labels.size() * sizeof(ds_.labels[0]), h);
  data_identity_ = {{"rows", ds_.size()}, {"shape", ds_.images.shape}, {"fnv1a", core::hex64(h)}};
}

io::Json ModelScoring::key(const fs::path& model, const ExampleScorer& scorer,
                           const diffusion::SchedulerConfig& scheduler) const {
  return {{"statistic", scorer.name()},
          {"options", scorer.options()},
          {"model", model_identity(model, load_.format)},
          {"scheduler", diffusion::to_json(scheduler)},
          {"data", data_identity_}};
}

fs::path ModelScoring::cache_file(const fs::path& model, const ExampleScorer& scorer) const {
  return cache_file(model, scorer, key(model, scorer, diffusion::model_scheduler_config(model)));
}

fs::path ModelScoring::cache_file(const fs::path& model, const ExampleScorer& scorer,
                                  const io::Json& key) const {
  const std::string hex = core::hex64(core::fnv1a(key.dump()));
  fs::path name = model.filename().empty() ? model.parent_path().filename() : model.filename();
  return cache_dir_ / (scorer.name() + "-" + safe_name(name.string()) + "-" + hex + ".npy");
}

std::vector<double> ModelScoring::errors(const fs::path& model, const ExampleScorer& scorer) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t n = ds_.size();
  Timing timing;
  timing.model = model.string();
  timing.scorer = scorer.name();
  timing.forwards = n * scorer.forwards_per_example();
  // Read once: it keys the cache and drives the scoring (and warns once when it is missing).
  const diffusion::SchedulerConfig scheduler = diffusion::model_scheduler_config(model);
  const io::Json k = key(model, scorer, scheduler);
  fs::path file, key_file;
  if (!cache_dir_.empty()) {
    file = cache_file(model, scorer, k);
    key_file = fs::path(file).replace_extension(".json");
    // A cache entry counts only when its key file (written last) matches exactly.
    if (fs::is_regular_file(key_file) && fs::is_regular_file(file) && io::read_json(key_file) == k) {
      io::HostArray a = io::read_npy(file);
      if (a.dtype == io::DType::kF64 && a.shape == std::vector<int64_t>{n}) {
        timing.cached = true;
        timing.seconds = core::seconds_since(t0);
        timings_.push_back(timing);
        return std::vector<double>(a.data<double>(), a.data<double>() + n);
      }
      log::warn(file.string() + ": cached scores of the wrong shape; recomputing");
    }
  }
  model::LoadDenoiserOptions lo = load_;
  if (lo.in_channels <= 0) lo.in_channels = ds_.channels();
  if (lo.sample_size <= 0) lo.sample_size = ds_.height();
  auto denoiser = model::load_denoiser(model, lo);
  model::require_unconditional(*denoiser, "mia");
  if (denoiser->in_channels() != ds_.channels() || denoiser->sample_size() != ds_.height() ||
      denoiser->sample_width() != ds_.width())
    fail(model.string(),
         "a model for the data's " + std::to_string(ds_.height()) + "x" + std::to_string(ds_.width()) +
             "x" + std::to_string(ds_.channels()) + " images",
         denoiser->describe() + " (" + std::to_string(denoiser->sample_size()) + "x" +
             std::to_string(denoiser->sample_width()) + " px, " +
             std::to_string(denoiser->in_channels()) + " channels)");
  diffusion::NoiseSchedule schedule(scheduler);
  auto e = scorer.errors(*denoiser, schedule, ds_, progress_);
  timing.seconds = core::seconds_since(t0);
  timing.forwards_per_s =
      timing.seconds > 0 ? static_cast<double>(n * scorer.forwards_per_example()) / timing.seconds : 0;
  if (!cache_dir_.empty()) {
    io::HostArray a = io::HostArray::zeros(io::DType::kF64, {n});
    std::copy(e.begin(), e.end(), a.data<double>());
    io::write_npy(file, a);
    io::write_json(key_file, k);
  }
  timings_.push_back(timing);
  return e;
}

namespace {

class ThresholdAttack : public MembershipAttack {
 public:
  explicit ThresholdAttack(std::shared_ptr<const ExampleScorer> s) : s_(std::move(s)) {}
  std::string name() const override { return s_->name(); }
  io::Json options() const override { return {{"statistic", s_->name()}, {s_->name(), s_->options()}}; }
  std::vector<double> scores(ModelScoring& scoring, const AttackInputs& in, io::Json&) override {
    auto e = scoring.errors(in.target.path, *s_);
    for (auto& v : e) v = -v;
    return e;
  }
  std::unique_ptr<MembershipAttack> at_timestep(int64_t t) const override {
    return make_threshold_attack(std::shared_ptr<const ExampleScorer>(s_->at_timestep(t)));
  }
  std::vector<ModelStatistic> model_statistics(const AttackInputs& in) const override {
    return {{in.target.path, s_}};
  }

 private:
  std::shared_ptr<const ExampleScorer> s_;
};

class LiraAttack : public MembershipAttack {
 public:
  LiraAttack(std::shared_ptr<const ExampleScorer> s, LiraOptions o) : s_(std::move(s)), o_(std::move(o)) {
    validate(o_, "LiRA options");
  }
  std::string name() const override {
    std::string n = std::string("lira-") + (o_.online ? "online" : "offline");
    if (o_.global_variance) n += "-global";
    if (s_->name() != "loss") n += "-" + s_->name();
    return n;
  }
  io::Json options() const override {
    return {{"statistic", s_->name()}, {s_->name(), s_->options()}, {"lira", io::fields_json(o_)}};
  }
  bool needs_shadows() const override { return true; }
  std::vector<double> scores(ModelScoring& scoring, const AttackInputs& in, io::Json& details) override {
    check(!in.shadows.empty(), "LiRA", "shadow models (--shadows)", "none");
    auto target = scoring.errors(in.target.path, *s_);
    std::vector<std::vector<double>> shadow_errors;
    std::vector<std::vector<bool>> shadow_members;
    for (auto& m : in.shadows) {
      shadow_errors.push_back(scoring.errors(m.path, *s_));
      shadow_members.push_back(m.members);
    }
    LiraResult r = lira_scores(target, shadow_errors, shadow_members, o_);
    details = {{"shadows", in.shadows.size()},
               {"pooled_in_variance", r.pooled_in_variance},
               {"pooled_out_variance", r.pooled_out_variance},
               {"mean_shift", r.mean_shift},
               {"missing_in", r.missing_in},
               {"missing_out", r.missing_out},
               {"pooled_variances", r.pooled_variances}};
    return r.scores;
  }
  std::unique_ptr<MembershipAttack> at_timestep(int64_t t) const override {
    return make_lira_attack(std::shared_ptr<const ExampleScorer>(s_->at_timestep(t)), o_);
  }
  std::vector<ModelStatistic> model_statistics(const AttackInputs& in) const override {
    std::vector<ModelStatistic> pairs{{in.target.path, s_}};
    for (const MiaModel& m : in.shadows) pairs.push_back({m.path, s_});
    return pairs;
  }

 private:
  std::shared_ptr<const ExampleScorer> s_;
  LiraOptions o_;
};

}  // namespace

std::unique_ptr<MembershipAttack> make_threshold_attack(std::shared_ptr<const ExampleScorer> scorer) {
  return std::make_unique<ThresholdAttack>(std::move(scorer));
}

std::unique_ptr<MembershipAttack> make_lira_attack(std::shared_ptr<const ExampleScorer> scorer,
                                                   const LiraOptions& options) {
  return std::make_unique<LiraAttack>(std::move(scorer), options);
}

}  // namespace diffmem::attack
