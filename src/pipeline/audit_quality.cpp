// The audit's quality stage: how good the generations are, beside how much they leak — FD (FID
// with Inception weights), KID and precision/recall against the images the model trained on.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "audit_internal.h"
#include "diffmem/core/memory.h"
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
    const quality::QualityOptions& o = c.options.quality.metrics;
    const core::PeakMemory memory;
    const auto net = quality::open_feature_net(c.options.quality.features, torch::Device(c.device));
    const auto t0 = std::chrono::steady_clock::now();
    const torch::Tensor gen =
        quality::compute_features(*net, quality::load_images(c.paths.samples), o.batch, "quality (generations)", c.progress);
    quality::Reference ref;
    ref.features = quality::compute_features(*net, quality::load_images(c.paths.train_data), o.batch,
                                             "quality (training images)", c.progress);
    ref.stats = quality::feature_stats(ref.features, c.paths.train_data.string());
    ref.features_name = net->name();
    ref.source = c.paths.train_data;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    quality::save_reference(c.paths.quality / "reference-stats", ref);
    quality::save_reference(c.paths.quality / "generated-stats",
                            {quality::feature_stats(gen, c.paths.samples.string()), gen, net->name(), c.paths.samples});
    quality::QualityResult r = quality::compare(gen, ref, *net, o);
    r.seconds_features = seconds;
    r.peak_rss_bytes = memory.peak();
    Json j = quality::quality_json(r, o);
    j["inputs"] = {{"generations", c.paths.samples.string()}, {"reference", c.paths.train_data.string()}};
    io::write_json(c.paths.quality / "summary.json", j);
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
