#include "diffmem/quality/fid.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "diffmem/core/error.h"
#include "diffmem/io/json.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"

namespace diffmem::quality {
namespace fs = std::filesystem;

FeatureStats feature_stats(const torch::Tensor& features, const std::string& where) {
  if (!features.defined() || features.dim() != 2)
    fail(where, "features [N,D]", features.defined() ? io::shape_str(features) : "none");
  if (features.size(0) < 2)
    fail(where, "at least 2 feature vectors for a covariance", std::to_string(features.size(0)));
  torch::NoGradGuard no_grad;
  const torch::Tensor x = features.to(torch::kCPU, torch::kFloat64).contiguous();
  if (!torch::isfinite(x).all().item<bool>()) fail(where, "finite features", "NaN or infinite values");
  FeatureStats s;
  s.count = x.size(0);
  s.mu = x.mean(0);
  const torch::Tensor c = x - s.mu;
  s.sigma = c.t().mm(c) / static_cast<double>(s.count - 1);
  return s;
}

namespace {

void check_stats(const FeatureStats& s, const std::string& where, const char* which) {
  const std::string w = where + " (" + which + ")";
  if (!s.mu.defined() || s.mu.dim() != 1) fail(w, "a mean vector [D]", s.mu.defined() ? io::shape_str(s.mu) : "none");
  const int64_t d = s.mu.size(0);
  if (!s.sigma.defined() || s.sigma.dim() != 2 || s.sigma.size(0) != d || s.sigma.size(1) != d)
    fail(w, "a covariance [" + std::to_string(d) + "," + std::to_string(d) + "]",
         s.sigma.defined() ? io::shape_str(s.sigma) : "none");
  if (!torch::isfinite(s.mu).all().item<bool>() || !torch::isfinite(s.sigma).all().item<bool>())
    fail(w, "finite statistics", "NaN or infinite values");
}

// Σ^½ of a symmetric PSD matrix (negative rounding-noise eigenvalues clipped).
torch::Tensor sqrt_psd(const torch::Tensor& a) {
  auto [lambda, v] = torch::linalg_eigh(a, "L");
  return (v * lambda.clamp_min(0).sqrt().unsqueeze(0)).mm(v.t());
}

}  // namespace

FrechetResult frechet_distance(const FeatureStats& a, const FeatureStats& b, const std::string& where) {
  check_stats(a, where, "first");
  check_stats(b, where, "second");
  if (a.mu.size(0) != b.mu.size(0))
    fail(where, "statistics of the same dimension", std::to_string(a.mu.size(0)) + " and " + std::to_string(b.mu.size(0)));
  torch::NoGradGuard no_grad;
  const auto t0 = std::chrono::steady_clock::now();
  const torch::Tensor s1 = a.sigma.to(torch::kFloat64), s2 = b.sigma.to(torch::kFloat64);
  const torch::Tensor r = sqrt_psd(s1);
  torch::Tensor m = r.mm(s2).mm(r);
  m = 0.5 * (m + m.t());  // symmetric up to rounding; eigh reads one triangle
  const torch::Tensor lambda = torch::linalg_eigvalsh(m, "L");
  const double top = lambda.max().item<double>(), bottom = lambda.min().item<double>();
  const double tr_sqrt = lambda.clamp_min(0).sqrt().sum().item<double>();
  FrechetResult out;
  out.mean_term = (a.mu.to(torch::kFloat64) - b.mu.to(torch::kFloat64)).pow(2).sum().item<double>();
  out.trace_term = s1.trace().item<double>() + s2.trace().item<double>() - 2 * tr_sqrt;
  out.distance = out.mean_term + out.trace_term;
  out.negative_eigen_ratio = (bottom < 0 && top > 0) ? bottom / top : 0.0;
  const int64_t dim = a.mu.size(0), fewest = std::min(a.count, b.count);
  char w[240];
  if (fewest > 0 && fewest <= dim) {
    std::snprintf(w, sizeof w,
                  "%lld vectors for %lld dimensions: a singular covariance; the distance is biased high "
                  "(compare only at equal counts, or use KID)",
                  static_cast<long long>(fewest), static_cast<long long>(dim));
    out.warning = w;
  } else if (out.negative_eigen_ratio < -1e-3) {
    std::snprintf(w, sizeof w,
                  "the covariance product has eigenvalues down to %.3g of its largest: its square root is "
                  "ill-determined",
                  out.negative_eigen_ratio);
    out.warning = w;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

void save_stats(const fs::path& dir, const FeatureStats& stats, const std::string& features) {
  check_stats(stats, dir.string(), "statistics to save");
  fs::create_directories(dir);
  io::write_npy(dir / "mu.npy", io::from_tensor(stats.mu.to(torch::kFloat64)));
  io::write_npy(dir / "sigma.npy", io::from_tensor(stats.sigma.to(torch::kFloat64)));
  io::write_json(dir / "stats.json",
                 io::Json{{"count", stats.count}, {"dim", stats.mu.size(0)}, {"features", features}});
}

FeatureStats load_stats(const fs::path& dir, std::string* features) {
  for (const char* f : {"mu.npy", "sigma.npy"})
    if (!fs::exists(dir / f)) fail((dir / f).string(), "saved feature statistics (diffmem quality --save-stats)", "no such file");
  FeatureStats s;
  s.mu = io::to_tensor(io::read_npy(dir / "mu.npy")).to(torch::kFloat64);
  s.sigma = io::to_tensor(io::read_npy(dir / "sigma.npy")).to(torch::kFloat64);
  check_stats(s, dir.string(), "saved statistics");
  if (!torch::allclose(s.sigma, s.sigma.t(), 1e-6, 1e-9))
    fail((dir / "sigma.npy").string(), "a symmetric covariance", "an asymmetric matrix");
  if (features) features->clear();
  if (fs::exists(dir / "stats.json")) {
    const fs::path where = dir / "stats.json";
    const io::Json j = io::read_json(where);
    if (!j.is_object() || !j.contains("dim") || !j["dim"].is_number_integer() || j["dim"].get<int64_t>() != s.mu.size(0))
      fail(where.string(), "\"dim\": " + std::to_string(s.mu.size(0)) + " as mu.npy", j.is_object() && j.contains("dim") ? j["dim"].dump() : "none");
    if (j.contains("count") && j["count"].is_number_integer()) s.count = j["count"].get<int64_t>();
    if (features && j.contains("features") && j["features"].is_string()) *features = j["features"].get<std::string>();
  }
  return s;
}

}  // namespace diffmem::quality
