// The nine stages of `diffmem audit`, each a thin driver of its library entry point.
#include <cmath>
#include <torch/torch.h>

#include <cstdio>

#include "audit_internal.h"
#include "diffmem/attack/blackbox_run.h"
#include "diffmem/attack/mia_text.h"
#include "diffmem/attack/extract.h"
#include "diffmem/attack/inpaint_run.h"
#include "diffmem/attack/mia_attack.h"
#include "diffmem/attack/mia_run.h"
#include "diffmem/core/error.h"
#include "diffmem/data/captions.h"
#include "diffmem/data/subset.h"
#include "diffmem/diffusion/generate.h"
#include "diffmem/model/checkpoint.h"
#include "diffmem/report/report.h"
#include "diffmem/train/trainer.h"

namespace diffmem::pipeline::detail {
using namespace attack;
namespace fs = std::filesystem;
using io::Json;

std::vector<fs::path> owned(const StageContext& c, std::vector<fs::path> ps) {
  std::vector<fs::path> out;
  for (auto& p : ps)
    if (c.paths.holds(p)) out.push_back(p);
  return out;
}

namespace {

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

// Where membership ground truth comes from: the model's members.npy, else the data set's.
struct Truth {
  fs::path dir;
  int64_t members = 0, nonmembers = 0;
};
std::optional<Truth> truth(const StageContext& c) {
  for (const fs::path& dir : {c.paths.model, c.paths.data}) {
    if (!fs::is_regular_file(dir / "members.npy")) continue;
    Truth t{dir};
    const std::optional<std::vector<bool>> mask = data::load_members(dir);
    for (bool m : *mask) (m ? t.members : t.nonmembers) += 1;
    return t;
  }
  return std::nullopt;
}
std::optional<std::string> membership_not_applicable(const StageContext& c) {
  const auto t = truth(c);
  if (!t) return "no members.npy in the model or the data set: nothing says who is a member";
  if (t->members == 0 || t->nonmembers == 0)
    return (t->dir / "members.npy").string() + " has " + std::to_string(t->members) +
           " members and " + std::to_string(t->nonmembers) + " non-members; both are needed";
  return std::nullopt;
}

Json without(Json j, std::initializer_list<const char*> keys) {
  for (const char* k : keys) j.erase(k);
  return j;
}

const char* const kPerPrompt =
    "a text-to-image model: the blackbox stage generates per prompt and compares each flagged clique "
    "with its prompt's training image";

class DataStage : public AuditStage {
 public:
  std::string name() const override { return "data"; }
  Json key(const StageContext& c) const override {
    const auto& o = c.options;
    Json j = to_json(o);
    Json builtin = o.data.empty() ? j["builtin"] : Json();
    // Keys a pixel audit's data never had stay out of its key, so runs made before them resume.
    if (builtin.is_object()) builtin = without(builtin, {"captions", "caption_copies"});
    Json k = {{"data", o.data}, {"builtin", builtin}, {"seed", o.seed}};
    if (o.data.empty() && builtin_captions(o))
      k["captions"] = {{"generated", true}, {"copies", o.builtin.caption_copies}};
    if (text_to_image(o) && o.prompts.empty()) k["prompts"] = "written from the captions";
    return k;
  }
  std::vector<fs::path> outputs(const StageContext& c) const override {
    return owned(c, {c.paths.data, c.paths.train_data, c.paths.prompts});
  }
  std::string run(const StageContext& c) const override {
    const auto& p = c.paths;
    data::Dataset ds;
    std::string what;
    if (c.options.data.empty()) {
      ds = builtin_dataset(c.options.builtin, builtin_captions(c.options), c.options.seed, c.progress);
      data::save_dataset(p.data, ds);
      what = "built-in " + c.options.builtin.source + " set";
    } else {
      ds = data::load_dataset(p.data);
      what = p.data.string();
    }
    std::string detail = what + ": " + std::to_string(ds.size()) + " images " +
                         io::shape_str(ds.images.shape);
    if (ds.members) {
      const data::Dataset train = member_dataset(ds);
      data::save_dataset(p.train_data, train);
      detail += ", " + std::to_string(train.size()) + " member rows (" +
                std::to_string(train.manifest.value("distinct", int64_t{0})) + " distinct)";
    }
    const auto groups = data::duplicate_groups(ds.manifest);
    if (!groups.empty()) detail += ", " + std::to_string(groups.size()) + " planted duplicate groups";
    if (text_to_image(c.options) && c.options.prompts.empty()) {
      const int64_t n = data::write_caption_prompts(ds, p.prompts);
      detail += ", " + std::to_string(n) + " prompts (one per distinct image)";
    }
    return detail;
  }
};

class TrainStage : public AuditStage {
 public:
  std::string name() const override { return "train"; }
  Json key(const StageContext& c) const override {
    const auto& o = c.options;
    if (gan_audit(o)) return gan_train_key(c);
    return {{"model", o.model},
            {"train", without(io::fields_json(o.train), {"device"})},
            {"shadows", o.shadows}};
  }
  std::vector<fs::path> outputs(const StageContext& c) const override {
    return owned(c, {c.paths.model, c.paths.shadows});
  }
  std::optional<std::string> not_applicable(const StageContext& c) const override {
    if (!c.options.model.empty() && c.options.shadows == 0) return "using the given model " + c.options.model;
    return std::nullopt;
  }
  bool splits() const override { return true; }  // the shadows; rank 0 trains the target
  std::string run(const StageContext& c) const override {
    if (gan_audit(c.options)) return train_gan_target(c);
    const auto& p = c.paths;
    const data::Dataset ds = data::load_dataset(p.data);
    train::TrainOptions t = c.options.train;
    t.device = c.device;
    std::string detail;
    if (c.options.model.empty() && c.comm->rank() == 0) {
      const auto r = train::train_on_members(ds, p.model, t, c.progress);
      detail = fmt("target: %.0f steps, %.2fM parameters, final loss %.4f", double(r.steps_done),
                   r.parameters / 1e6, r.final_loss);
    } else if (!c.options.model.empty()) {
      // Shadows for a given model share its architecture.
      t.unet_config = model::find_diffusers_files(p.model).config.string();
      detail = "target given";
    }
    if (c.options.shadows > 0) {
      train::ManyOptions many;
      many.models = c.options.shadows;
      many.split = "half";
      many.rank = c.comm->rank();
      many.ranks = c.comm->size();
      train::train_many(ds, p.shadows, t, many, c.progress);
      detail += ", " + std::to_string(c.options.shadows) + " shadow models";
    }
    return detail;
  }
};

class SampleStage : public AuditStage {
 public:
  std::string name() const override { return "sample"; }
  Json key(const StageContext& c) const override {
    if (gan_audit(c.options)) return gan_sample_key(c);
    return {{"sample", to_json(c.options)["sample"]}, {"seed", c.options.seed}};
  }
  std::vector<fs::path> outputs(const StageContext& c) const override {
    return owned(c, {c.paths.samples});
  }
  std::optional<std::string> not_applicable(const StageContext& c) const override {
    if (text_to_image(c.options)) return kPerPrompt;
    return std::nullopt;
  }
  bool splits() const override { return true; }
  std::string run(const StageContext& c) const override {
    if (gan_audit(c.options)) return sample_gan(c);
    const auto& p = c.paths;
    model::LoadDenoiserOptions lo;
    lo.device = c.device;
    auto denoiser = model::load_denoiser(p.model, lo);
    model::require_unconditional(*denoiser, "audit");
    diffusion::NoiseSchedule schedule(diffusion::model_scheduler_config(p.model));
    diffusion::GenerateOptions g;
    g.n = c.options.sample.n;
    g.shard_size = c.options.sample.shard_size;
    g.seed = c.options.seed;
    g.sample = c.options.sample.sample;
    g.model = p.model.string();
    g.shard_index = c.comm->rank();  // an MPI job's ranks take every size-th shard
    g.shard_count = c.comm->size();
    const auto r = diffusion::generate(*denoiser, schedule, p.samples, g, c.progress);
    return std::to_string(g.n) + " generations (" + g.sample.sampler + ", " +
           std::to_string(r.shards_total) + " shards) from " + denoiser->describe();
  }
};

class ExtractStage : public AuditStage {
 public:
  std::string name() const override { return "extract"; }
  Json key(const StageContext& c) const override {
    return without(to_json(c.options)["extract"], {"device", "reuse"});
  }
  std::vector<fs::path> outputs(const StageContext& c) const override {
    return owned(c, {c.paths.extract});
  }
  std::optional<std::string> not_applicable(const StageContext& c) const override {
    if (text_to_image(c.options)) return kPerPrompt;
    if (!fs::is_regular_file(c.paths.train_data / "manifest.json"))
      return "no training set (" + c.paths.train_data.string() + ")";
    return std::nullopt;
  }
  bool splits() const override { return true; }
  std::string run(const StageContext& c) const override {
    ExtractOptions e = c.options.extract;
    e.device = c.device;
    const auto r = run_extract(c.paths.samples, c.paths.train_data, c.paths.extract, e,
                               {{"audit", c.paths.run.string()}}, c.progress, *c.comm);
    return std::to_string(r.unique_extracted) + " training images extracted (" +
           std::to_string(r.extracted_generations) + " of " + std::to_string(r.generations) +
           " generations within the threshold)";
  }
};

class BlackboxStage : public AuditStage {
 public:
  std::string name() const override { return "blackbox"; }
  Json key(const StageContext& c) const override {
    if (text_to_image(c.options)) return text_blackbox_key(c);
    return to_json(c.options)["blackbox"];
  }
  std::vector<fs::path> outputs(const StageContext& c) const override {
    return owned(c, {c.paths.blackbox});
  }
  std::string run(const StageContext& c) const override {
    if (text_to_image(c.options)) return run_text_blackbox(c);

    BlackboxRunOptions b = c.options.blackbox;
    b.analysis.device = c.device;
    BlackboxGroupInput g;
    g.id = "samples";
    g.name = "samples";
    g.prompt = "unconditional generations of " + c.paths.model.string();
    g.shards = c.paths.samples;
    const auto r = run_blackbox({g}, c.paths.blackbox, b, Json::object(), c.progress);
    int64_t flagged = 0;
    size_t largest = 0;
    for (const auto& row : r.rows)
      for (const auto& q : row.analysis.cliques) {
        flagged += q.flagged;
        largest = std::max(largest, q.members.size());
      }
    return std::to_string(flagged) + " cliques of >= " + std::to_string(b.analysis.min_clique) +
           " near-identical generations (largest " + std::to_string(largest) + ")";
  }
};

class MiaStage : public AuditStage {
 public:
  std::string name() const override { return "mia"; }
  Json key(const StageContext& c) const override {
    if (text_to_image(c.options))
      return {{"text_mia", io::fields_json(c.options.text.mia)}, {"attacks", text_attacks(c)}, {"shadows", c.options.shadows}};
    if (gan_audit(c.options)) return {{"target", "gan"}, {"mia", to_json(c.options)["mia"]}};
    return {{"mia", to_json(c.options)["mia"]}, {"shadows", c.options.shadows}};
  }
  std::vector<fs::path> outputs(const StageContext& c) const override {
    return owned(c, {c.paths.mia});
  }
  std::optional<std::string> not_applicable(const StageContext& c) const override {
    return membership_not_applicable(c);
  }
  bool splits() const override { return true; }  // pixel models' attacks (run_audit refuses the rest)
  std::string run(const StageContext& c) const override {
    std::vector<MiaAttackReport> reports;
    if (text_to_image(c.options)) {
      const data::Dataset ds = data::load_dataset(c.paths.data);
      const std::vector<bool> members = *data::load_members(truth(c)->dir);
      check(members.size() == static_cast<size_t>(ds.size()), (truth(c)->dir / "members.npy").string(),
            std::to_string(ds.size()) + " entries (one per row of " + c.paths.data.string() + ")",
            std::to_string(members.size()));
      reports = run_text_mia(c.paths.model, ds, members, text_attacks(c), c.options.text.mia, c.paths.mia, c.device,
                             c.progress, c.paths.shadows).attacks;
      return describe(reports);
    }
    if (gan_audit(c.options)) return describe({gan_mia(c, truth(c)->dir)});
    MiaRunOptions m;
    m.data = c.paths.data;
    m.target = c.paths.model;
    m.members = truth(c)->dir;
    m.out = c.paths.mia;
    m.loss = c.options.mia.loss;
    m.load.device = c.device;
    m.bootstrap = c.options.mia.bootstrap;
    m.calibrate_on = c.options.mia.calibrate_on;
    m.attack = "loss";
    reports = run_mia(m, c.progress, *c.comm).attacks;
    if (c.options.shadows > 0) {
      m.attack = "lira";
      m.shadows = c.paths.shadows;
      m.lira_statistic = c.options.mia.lira_statistic;
      m.lira_global_variance = c.options.mia.lira_global_variance;
      for (auto& r : run_mia(m, c.progress, *c.comm).attacks) reports.push_back(r);
    }
    return describe(reports);
  }

 private:
  static std::string text_attacks(const StageContext& c) {
    return c.options.text.attacks + (c.options.shadows > 0 ? ",lira" : "");
  }
  static std::string describe(const std::vector<MiaAttackReport>& reports) {
    std::string detail;
    for (const auto& r : reports)
      detail += (detail.empty() ? "" : "; ") + r.name +
                (std::isnan(r.summary.tpr_at_fpr_1pct)
                     ? fmt(" AUC %.3f, TPR@1%%FPR not measurable (%.0f non-members)", r.summary.auc,
                           double(r.summary.nonmembers))
                     : fmt(" AUC %.3f, TPR@1%%FPR %.1f%%", r.summary.auc, 100 * r.summary.tpr_at_fpr_1pct));
    return detail;
  }
};

class InpaintStage : public AuditStage {
 public:
  std::string name() const override { return "inpaint"; }
  Json key(const StageContext& c) const override { return to_json(c.options)["inpaint"]; }
  std::vector<fs::path> outputs(const StageContext& c) const override {
    return owned(c, {c.paths.inpaint});
  }
  std::optional<std::string> not_applicable(const StageContext& c) const override {
    if (text_to_image(c.options))
      return std::string("a text-to-image model: the inpainting attack is built for unconditional pixel models");
    if (gan_audit(c.options)) return std::string(kGanNoInpaint);
    return membership_not_applicable(c);
  }
  bool splits() const override { return true; }  // rounds of targets; rank 0 writes
  std::string run(const StageContext& c) const override {
    InpaintRunOptions o;
    o.model = c.paths.model;
    o.data = c.paths.data;
    o.out = c.paths.inpaint;
    o.attack = c.options.inpaint.attack;
    o.show = c.options.inpaint.show;
    o.strip_scale = c.options.inpaint.strip_scale;
    o.bootstrap = c.options.inpaint.bootstrap;
    o.load.device = c.device;
    const auto r = run_inpaint(o, c.progress, *c.comm);
    return fmt("hidden-region distance: members %.3f, non-members %.3f; AUC %.3f",
               r.mean_distance_members, r.mean_distance_nonmembers, r.summary.auc);
  }
};

class ReportStage : public AuditStage {
 public:
  std::string name() const override { return "report"; }
  Json key(const StageContext&) const override { return Json::object(); }
  std::vector<fs::path> outputs(const StageContext& c) const override {
    return owned(c, {c.paths.report, c.paths.summary});
  }
  std::string run(const StageContext& c) const override {
    report::ReportOptions ro;
    ro.run = c.paths.run;
    ro.out = c.paths.report;
    ro.summary = c.paths.summary;
    const auto r = report::write_report(ro);
    int present = 0;
    for (const auto& s : r.sections) present += s.present;
    return r.html.string() + " (" + std::to_string(r.html_bytes / 1024) + " KB, " +
           std::to_string(present) + " of " + std::to_string(r.sections.size()) + " sections)";
  }
};

}  // namespace

std::vector<std::unique_ptr<AuditStage>> make_audit_stages() {
  std::vector<std::unique_ptr<AuditStage>> s;
  s.push_back(std::make_unique<DataStage>());
  s.push_back(std::make_unique<TrainStage>());
  s.push_back(std::make_unique<SampleStage>());
  s.push_back(std::make_unique<ExtractStage>());
  s.push_back(make_screen_stage());
  s.push_back(std::make_unique<BlackboxStage>());
  s.push_back(std::make_unique<MiaStage>());
  s.push_back(std::make_unique<InpaintStage>());
  s.push_back(make_quality_stage());
  s.push_back(std::make_unique<ReportStage>());
  return s;
}

}  // namespace diffmem::pipeline::detail
