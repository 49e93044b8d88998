#include "diffmem/metrics/gaussian.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "diffmem/core/error.h"
#include "diffmem/core/format.h"

namespace diffmem::metrics {
namespace {

constexpr double kLogSqrt2Pi = 0.91893853320467274178;  // log(sqrt(2π))
constexpr double kSqrt2Pi = 2.50662827463100050242;
constexpr double kInvSqrt2 = 0.70710678118654752440;

// Acklam's approximation for p in (0, 0.5]; relative error below 1.15e-9 before refinement.
double acklam_lower(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

}  // namespace

MeanVariance mean_variance(const std::vector<double>& values, double variance_floor, int ddof) {
  if (!(variance_floor >= 0)) fail("mean_variance", "a variance floor >= 0", core::exact_number(variance_floor));
  check(ddof >= 0 && values.size() > static_cast<size_t>(ddof), "mean_variance",
        "more values than ddof (" + std::to_string(ddof) + " >= 0)",
        std::to_string(values.size()) + " values");
  double sum = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]))
      fail("mean_variance: values[" + std::to_string(i) + "]", "a finite value", core::exact_number(values[i]));
    sum += values[i];
  }
  MeanVariance r;
  r.count = values.size();
  r.mean = sum / static_cast<double>(values.size());
  // Two passes: the squared deviations from the finished mean, free of the cancellation that
  // E[x²] − E[x]² suffers when the scores sit far from zero (LiRA losses cluster tightly).
  double ss = 0, dev = 0;
  for (double v : values) {
    ss += (v - r.mean) * (v - r.mean);
    dev += v - r.mean;
  }
  ss -= dev * dev / static_cast<double>(values.size());
  r.variance = std::max(ss / static_cast<double>(values.size() - static_cast<size_t>(ddof)),
                        variance_floor);
  return r;
}

double normal_log_pdf(double x, double mean, double variance) {
  if (!(variance > 0)) fail("normal_log_pdf", "a variance > 0", core::exact_number(variance));
  const double z = x - mean;
  return -0.5 * z * z / variance - 0.5 * std::log(variance) - kLogSqrt2Pi;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z * kInvSqrt2); }

double normal_log_sf(double z) {
  if (z < 30) return std::log(0.5 * std::erfc(z * kInvSqrt2));
  // Mills' ratio: 1 − Φ(z) = φ(z)/z · (1 − 1/z² + 3/z⁴ − 15/z⁶ + 105/z⁸ − ...); at z >= 30 five
  // terms leave a relative error below 1e-13.
  const double w = 1 / (z * z);
  const double series = 1 - w * (1 - 3 * w * (1 - 5 * w * (1 - 7 * w * (1 - 9 * w))));
  return -0.5 * z * z - kLogSqrt2Pi - std::log(z) + std::log(series);
}

double normal_quantile(double p) {
  if (!(p >= 0 && p <= 1)) fail("normal_quantile", "p in [0, 1]", core::exact_number(p));
  if (p == 0) return -std::numeric_limits<double>::infinity();
  if (p == 1) return std::numeric_limits<double>::infinity();
  // Work in the lower half, where p keeps full relative precision (1 − p is exact for p >= 0.5).
  if (p > 0.5) return -normal_quantile(1 - p);
  double x = acklam_lower(p);
  // One Halley step on Φ(x) − p brings the error to rounding level.
  const double e = normal_cdf(x) - p;
  const double u = e * kSqrt2Pi * std::exp(0.5 * x * x);
  if (std::isfinite(u)) x -= u / (1 + 0.5 * x * u);
  return x;
}

}  // namespace diffmem::metrics
