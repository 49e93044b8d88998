// The audit's quality stage: how good the generations are, beside how much they leak — FD (FID
// with Inception weights), KID and precision/recall against the images the model trained on.
#include <torch/torch.h>

#include <cstdio>

#include "audit_internal.h"
#include "diffmem/io/json.h"
#include "diffmem/quality/feature_source.h"
#include "diffmem/quality/quality_run.h"

namespace diffmem::pipeline::detail {
namespace fs = std::filesystem;
using io::Json;

namespace {

class QualityStage : public AuditStage {
 public:
  std::string name() const override { return "quality"; }
  Json key(const StageContext& c) const override { return io::fields_json(c.options.quality); }
  std::vector<fs::path> outputs(const StageContext& c) const override { return owned(c, {c.paths.quality}); }
  std::optional<std::string> not_applicable(const StageContext& c) const override {
    if (text_to_image(c.options)) return std::string("not measured for text-to-image generations yet");
    if (c.options.quality.features.empty())
      return std::string("no feature net named (quality.features: diffmem train-feature-net, or Inception weights)");
    if (!fs::is_regular_file(c.paths.train_data / "manifest.json"))
      return "no training set (" + c.paths.train_data.string() + ")";
    return std::nullopt;
  }
  std::string run(const StageContext& c) const override {
    const auto net = quality::open_feature_net(c.options.quality.features, torch::Device(c.device));
    const Json inputs = {{"generations", c.paths.samples.string()}, {"reference", c.paths.train_data.string()}};
    const quality::QualityResult r = quality::run_quality(*net, c.paths.samples, c.paths.train_data, c.paths.quality,
                                                          c.options.quality.metrics, inputs, c.progress);
    std::string line = quality::distance_label(r);
    char b[96];
    if (r.kid) {
      std::snprintf(b, sizeof b, ", KID %.4g", r.kid->mean);
      line += b;
    }
    if (r.pr) {
      std::snprintf(b, sizeof b, ", precision %.2f recall %.2f", r.pr->precision, r.pr->recall);
      line += b;
    }
    return line;
  }
};

}  // namespace

std::unique_ptr<AuditStage> make_quality_stage() { return std::make_unique<QualityStage>(); }

}  // namespace diffmem::pipeline::detail
