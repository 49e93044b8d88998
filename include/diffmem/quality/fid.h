#pragma once
// The Fréchet distance between two sets of feature vectors (FID when the features are Inception-v3
// pool3 with the real weights; "FD in <net>'s space" otherwise), from their Gaussian statistics:
//   ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½.
// Everything runs in double precision. tr (Σ₁ Σ₂)^½ is computed as Σ √λ over the eigenvalues λ of
// the symmetric Σ₁^½ Σ₂ Σ₁^½ (similar to Σ₁ Σ₂, so the trace is the same), which has no imaginary
// part to discard: where scipy.linalg.sqrtm (pytorch-fid) can return complex roots of rounding
// noise, here the same noise shows as negative eigenvalues, clipped to 0 and reported.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace diffmem::quality {

/// The Gaussian statistics of a feature set: mean [D] and covariance [D,D] (f64; ddof 1, as
/// np.cov), and how many vectors they came from.
struct FeatureStats {
  torch::Tensor mu;
  torch::Tensor sigma;
  int64_t count = 0;
};

/// Statistics of features [N,D] (any float dtype; N ≥ 2). Throws diffmem::Error naming `where` for
/// another rank, N < 2 or a non-finite value.
FeatureStats feature_stats(const torch::Tensor& features, const std::string& where);

struct FrechetResult {
  double distance = 0;
  double mean_term = 0;   ///< ‖μ₁ − μ₂‖²
  double trace_term = 0;  ///< tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½
  /// The most negative eigenvalue of Σ₁^½ Σ₂ Σ₁^½ (0 when none), relative to the largest: the
  /// analogue of pytorch-fid's imaginary-component check (below -1e-3: `warning`).
  double negative_eigen_ratio = 0;
  /// Non-empty when the number is shaky: a set with no more vectors than dimensions (singular
  /// covariance, FD biased high; the counts of the statistics are known) or the check above.
  std::string warning;
  double seconds = 0;  ///< the eigendecompositions' cost
};

/// The Fréchet distance of two statistics of the same dimension (an error naming `where` for
/// mismatched or non-finite statistics).
FrechetResult frechet_distance(const FeatureStats& a, const FeatureStats& b, const std::string& where);

/// DIR/mu.npy (f64 [D]), DIR/sigma.npy (f64 [D,D]) and DIR/stats.json ({"count", "dim",
/// "features"}); each written atomically, stats.json last.
void save_stats(const std::filesystem::path& dir, const FeatureStats& stats, const std::string& features);
/// Reads what save_stats wrote (stats.json optional, e.g. for statistics saved by numpy alone);
/// checks shapes, symmetry and finiteness; `features` gets stats.json's name or "".
FeatureStats load_stats(const std::filesystem::path& dir, std::string* features = nullptr);

}  // namespace diffmem::quality
