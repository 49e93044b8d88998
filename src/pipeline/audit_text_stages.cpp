// The text-to-image side of `diffmem audit`: the first-step screen as a stage, and generate-and-
// filter per prompt for the blackbox stage, both over the run's prompts file.
#include <cstdio>

#include "audit_internal.h"
#include "diffmem/attack/blackbox_text_to_image.h"
#include "diffmem/attack/screen.h"

namespace diffmem::pipeline::detail {
using namespace attack;
namespace fs = std::filesystem;
using io::Json;

namespace {

ScreenOptions screen_options(const StageContext& c) {
  const AuditTextOptions& t = c.options.text;
  ScreenOptions s;
  s.model = c.paths.model.string();
  s.prompts = prompts_file(c.paths, c.options).string();
  s.label = prompt_label(c.options);
  s.per_prompt = t.screen_per_prompt;
  s.seed = c.options.seed;
  s.pipeline = t.pipeline;
  s.probe = t.probe;
  return s;
}

TextToImageBlackboxOptions text_blackbox_options(const StageContext& c) {
  const AuditTextOptions& t = c.options.text;
  TextToImageBlackboxOptions b;
  b.model = c.paths.model.string();
  b.prompts = prompts_file(c.paths, c.options).string();
  b.label = prompt_label(c.options);
  b.per_prompt = t.per_prompt;
  b.seed = c.options.seed;
  b.negative_prompt = t.negative_prompt;
  b.pipeline = t.pipeline;
  b.screen_top = t.screen_top;
  b.screen_threshold = t.screen_threshold;
  b.screen_detector = t.screen_detector;
  b.screen_per_prompt = t.screen_per_prompt;
  b.probe = t.probe;
  b.run = t.filter;
  return b;
}

// What a text-to-image stage's result depends on: its options (without the model folder and the
// prompts path inside the run, which move with it).
Json text_key(const StageContext& c, Json options) {
  options.erase("model");
  options.erase("prompts");
  options["prompts_file"] = c.options.prompts;
  return options;
}

std::string percent_line(const char* f, double a, double b) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

class ScreenStage : public AuditStage {
 public:
  std::string name() const override { return "screen"; }
  Json key(const StageContext& c) const override {
    if (!text_to_image(c.options)) return Json::object();
    return text_key(c, io::fields_json(screen_options(c)));
  }
  std::vector<fs::path> outputs(const StageContext& c) const override {
    if (!c.paths.holds(c.paths.screen)) return {};
    return {c.paths.screen};
  }
  std::optional<std::string> not_applicable(const StageContext& c) const override {
    if (!text_to_image(c.options)) return std::string("an unconditional model: no prompts to screen");
    return std::nullopt;
  }
  std::string run(const StageContext& c) const override {
    const ScreenResult r = run_screen(screen_options(c), c.paths.screen, c.device, c.progress);
    std::string detail = std::to_string(r.rows.size()) + " prompts, " + std::to_string(r.unet_images) +
                         " U-Net evaluations";
    const Json& wen = r.summary["detectors"]["wen"];
    if (wen.is_object() && wen.contains("auc") && wen["auc"].is_number()) {
      const Json& tpr = wen.contains("tpr_at_fpr_0.01") ? wen["tpr_at_fpr_0.01"] : Json();
      detail += tpr.is_number() ? percent_line("; Wen et al. AUC %.3f, TPR@1%%FPR %.1f%%", wen["auc"].get<double>(),
                                               100 * tpr.get<double>())
                                : percent_line("; Wen et al. AUC %.3f", wen["auc"].get<double>(), 0) +
                                      ", TPR@1%FPR not measurable (too few non-members)";
    }
    return detail;
  }
};

}  // namespace

std::unique_ptr<AuditStage> make_screen_stage() { return std::make_unique<ScreenStage>(); }

Json text_blackbox_key(const StageContext& c) { return text_key(c, io::fields_json(text_blackbox_options(c))); }

std::string run_text_blackbox(const StageContext& c) {
  const TextToImageBlackboxOptions b = text_blackbox_options(c);
  const auto r = run_blackbox_text_to_image(b, c.paths.blackbox, c.device, c.progress);
  const Json& e = r.summary["extraction"];
  std::string detail = std::to_string(r.run.flagged) + " of " + std::to_string(r.prompts) + " prompts flagged (" +
                       std::to_string(r.selected) + " generated, " + std::to_string(b.per_prompt) + " each)";
  if (e.is_object() && e.value("with_train_image", int64_t{0}) > 0)
    detail += ", " + std::to_string(e.value("extracted", int64_t{0})) + " reproduce their training image";
  if (e.is_object() && e.contains("precision") && e["precision"].is_number())
    detail += percent_line("; precision %.2f, recall %.2f", e["precision"].get<double>(),
                           e["recall"].is_number() ? e["recall"].get<double>() : 0.0);
  return detail;
}

}  // namespace diffmem::pipeline::detail
