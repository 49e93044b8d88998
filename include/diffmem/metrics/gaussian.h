#pragma once
// The Gaussian pieces LiRA needs (fit a mean and variance per example from shadow-model scores,
// evaluate log-likelihoods) and the standard normal CDF / inverse CDF used to check attacks against
// closed forms. Plain doubles; no torch.
#include <cstdint>
#include <vector>

namespace diffmem::metrics {

struct MeanVariance {
  double mean = 0;
  double variance = 0;  // after the floor
  uint64_t count = 0;
};

/// Mean and variance Σ(x − mean)² / (n − ddof), raised to at least variance_floor. LiRA fits
/// with ddof = 0 (np.std's default) and needs the floor so that a shadow set with identical scores
/// does not give a zero variance (an infinite log-likelihood). Throws diffmem::Error for non-finite
/// values, a negative floor, ddof < 0, or n <= ddof.
MeanVariance mean_variance(const std::vector<double>& values, double variance_floor = 0.0,
                           int ddof = 0);

/// log N(x; mean, variance). Throws diffmem::Error unless variance > 0.
double normal_log_pdf(double x, double mean, double variance);

/// Φ(z), accurate in both tails (erfc, not 1 − erf).
double normal_cdf(double z);

/// log(1 − Φ(z)), finite far into the upper tail (asymptotic series past z = 30) — the one-sided
/// LiRA test's score.
double normal_log_sf(double z);

/// Φ⁻¹(p) for p in (0, 1): Acklam's rational approximation refined by one Halley step, accurate to
/// about 1e-15 relative. Returns ∓inf at p = 0 / 1; throws diffmem::Error outside [0, 1] or NaN.
double normal_quantile(double p);

}  // namespace diffmem::metrics
