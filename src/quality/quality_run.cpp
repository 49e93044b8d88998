#include "diffmem/quality/quality_run.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "diffmem/core/error.h"
#include "diffmem/core/memory.h"
#include "diffmem/data/dataset.h"
#include "diffmem/data/generations.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::quality {
namespace fs = std::filesystem;

void validate(const QualityOptions& o, const std::string& where) {
  if (o.batch < 1) fail(where, "batch >= 1", std::to_string(o.batch));
  if (o.pr_k < 0) fail(where, "pr_k >= 0 (0 leaves precision/recall out)", std::to_string(o.pr_k));
  if (o.kid.subsets < 1) fail(where, "kid.subsets >= 1", std::to_string(o.kid.subsets));
  if (o.kid.subset_size < 2) fail(where, "kid.subset_size >= 2", std::to_string(o.kid.subset_size));
}

void check_one_net(const FeatureSource& s, const std::string& keys) {
  const int named = !s.inception_weights.empty() + !s.inception_torchscript.empty() + !s.feature_net.empty();
  if (named != 1)
    fail(keys,
         "exactly one feature net (Inception weights as safetensors, NVIDIA's TorchScript Inception, or a "
         "data-set net from `diffmem train-feature-net`)",
         named == 0 ? "none" : std::to_string(named));
}

torch::Tensor compute_features(model::FeatureNet& net, const io::HostArray& images, int64_t batch,
                               const std::string& stage, const ProgressFn& progress) {
  if (images.dtype != io::DType::kU8 || images.shape.size() != 4)
    fail(stage, "images U8 [N,H,W,C]", io::shape_str(images.shape));
  const torch::Tensor all = io::to_tensor(images);
  const int64_t n = all.size(0);
  ProgressMeter meter(progress, stage, n, "images");
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < n; i += batch) {
    const torch::Tensor f = net.features(all.slice(0, i, std::min(n, i + batch)));
    if (f.dim() != 2 || f.size(0) != std::min(batch, n - i))
      fail(stage, "features [" + std::to_string(std::min(batch, n - i)) + ",D] from " + net.name(), io::shape_str(f));
    parts.push_back(f.to(torch::kCPU, torch::kFloat32));
    meter.update(std::min(n, i + batch));
  }
  meter.finish();
  if (parts.empty()) return torch::zeros({0, net.dim()});
  return torch::cat(parts);
}

io::HostArray load_images(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail(dir.string(), "a generations folder or a data set folder", "no such folder");
  if (!data::list_shards(dir).empty()) return data::load_generations(dir).images;
  return data::load_dataset(dir).images;
}

bool is_stats_folder(const fs::path& dir) { return fs::exists(dir / "mu.npy"); }

Reference load_reference(const fs::path& dir, const model::FeatureNet& net) {
  Reference r;
  r.source = dir;
  r.stats = load_stats(dir, &r.features_name);
  if (!r.features_name.empty() && r.features_name != net.name())
    fail((dir / "stats.json").string(), "statistics in the space of " + net.name(), "statistics of " + r.features_name);
  if (r.features_name.empty()) r.features_name = net.name();  // numpy-only statistics: the user's word
  if (r.stats.mu.size(0) != net.dim() && net.dim() > 0)
    fail((dir / "mu.npy").string(), std::to_string(net.dim()) + " dimensions (" + net.name() + ")",
         std::to_string(r.stats.mu.size(0)));
  if (fs::exists(dir / "features.npy")) {
    r.features = io::to_tensor(io::read_npy(dir / "features.npy")).to(torch::kFloat32);
    if (r.features.dim() != 2 || r.features.size(1) != r.stats.mu.size(0) || r.features.size(0) != r.stats.count)
      fail((dir / "features.npy").string(),
           "[" + std::to_string(r.stats.count) + "," + std::to_string(r.stats.mu.size(0)) + "] as stats.json",
           io::shape_str(r.features));
  }
  return r;
}

void save_reference(const fs::path& dir, const Reference& r) {
  fs::create_directories(dir);
  if (r.features.defined()) io::write_npy(dir / "features.npy", io::from_tensor(r.features.to(torch::kFloat32)));
  save_stats(dir, r.stats, r.features_name);
}

QualityResult compare(const torch::Tensor& generated, const Reference& ref, const model::FeatureNet& net,
                      const QualityOptions& o) {
  validate(o, "quality options");
  const auto t0 = std::chrono::steady_clock::now();
  QualityResult r;
  r.features_name = net.name();
  r.is_fid = net.is_inception();
  r.generated = generated.size(0);
  r.reference = ref.stats.count;
  r.frechet = frechet_distance(feature_stats(generated, "generated features"), ref.stats, "Fréchet distance");
  if (ref.features.defined()) {
    if (o.kid_on) r.kid = kernel_distance(generated, ref.features, o.kid, "KID");
    if (o.pr_k > 0) r.pr = precision_recall(ref.features, generated, o.pr_k, "precision/recall");
  }
  r.seconds_total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string distance_label(const QualityResult& r) {
  char b[64];
  std::snprintf(b, sizeof b, "%.4g", r.frechet.distance);
  return r.is_fid ? "FID " + std::string(b) : "FD in " + r.features_name + " space " + b;
}

QualityResult run_quality(model::FeatureNet& net, const fs::path& generations, const fs::path& reference,
                          const fs::path& out, const QualityOptions& o, const io::Json& inputs,
                          const ProgressFn& progress) {
  const core::PeakMemory memory;
  const bool ref_is_stats = is_stats_folder(reference);
  Reference ref;
  if (ref_is_stats) ref = load_reference(reference, net);
  const io::HostArray gen_images = load_images(generations);
  const io::HostArray ref_images = ref_is_stats ? io::HostArray{} : load_images(reference);
  const auto t0 = std::chrono::steady_clock::now();
  const torch::Tensor gen = compute_features(net, gen_images, o.batch, "features (generations)", progress);
  if (!ref_is_stats) {
    ref.features = compute_features(net, ref_images, o.batch, "features (reference)", progress);
    ref.stats = feature_stats(ref.features, reference.string());
    ref.features_name = net.name();
    ref.source = reference;
    save_reference(out / "reference-stats", ref);
  }
  const double seconds_features = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  save_reference(out / "generated-stats", {feature_stats(gen, generations.string()), gen, net.name(), generations});
  QualityResult r = compare(gen, ref, net, o);
  r.seconds_features = seconds_features;
  r.peak_rss_bytes = memory.peak();
  io::Json j = quality_json(r, o);
  j["inputs"] = inputs;
  io::write_json(out / "summary.json", j);
  return r;
}

io::Json quality_json(const QualityResult& r, const QualityOptions& o) {
  auto num = [](double v) { return std::isfinite(v) ? io::Json(v) : io::Json(nullptr); };
  io::Json j{{"metric", r.is_fid ? "FID" : "FD"},
             {"features", r.features_name},
             {"generated", r.generated},
             {"reference", r.reference},
             {"fd", num(r.frechet.distance)},
             {"fd_terms", {{"mean", num(r.frechet.mean_term)}, {"covariance", num(r.frechet.trace_term)}}},
             {"sqrt_check", {{"negative_eigen_ratio", num(r.frechet.negative_eigen_ratio)},
                             {"warning", r.frechet.warning}}},
             {"options", io::fields_json(o)}};
  if (r.kid)
    j["kid"] = {{"mean", num(r.kid->mean)},       {"std", num(r.kid->std)},
                {"standard_error", num(r.kid->standard_error)}, {"subsets", r.kid->subsets},
                {"subset_size", r.kid->subset_size}};
  else
    j["kid"] = nullptr;
  if (r.pr)
    j["precision_recall"] = {{"precision", num(r.pr->precision)}, {"recall", num(r.pr->recall)}, {"k", r.pr->k}};
  else
    j["precision_recall"] = nullptr;
  j["timing"] = {{"seconds_features", num(r.seconds_features)},
                 {"seconds_metrics", num(r.seconds_total)},
                 {"seconds_sqrtm", num(r.frechet.seconds)},
                 {"peak_rss_bytes", r.peak_rss_bytes}};
  return j;
}

}  // namespace diffmem::quality
