#include "diffmem/metrics/histogram.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "diffmem/core/error.h"
#include "diffmem/core/format.h"

namespace diffmem::metrics {
namespace {

// numpy's lerp: exact at both ends (t = 0 gives a, t = 1 gives b).
double lerp(double a, double b, double t) {
  const double d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

double sorted_quantile(const std::vector<double>& sorted, double q) {
  if (!(q >= 0 && q <= 1)) fail("quantile", "q in [0, 1]", core::exact_number(q));
  const size_t n = sorted.size();
  const double v = static_cast<double>(n - 1) * q;
  const double prev = std::floor(v);
  const size_t i = std::min(static_cast<size_t>(prev), n - 1);
  const size_t j = std::min(i + 1, n - 1);
  return lerp(sorted[i], sorted[j], v - prev);
}

void sort_checked(std::vector<double>& values) {
  check(!values.empty(), "quantile", "at least one value", "none");
  for (size_t i = 0; i < values.size(); ++i)
    if (std::isnan(values[i])) fail("quantile: values[" + std::to_string(i) + "]", "a number", "NaN");
  std::sort(values.begin(), values.end());
}

}  // namespace

double Histogram::edge(int64_t i) const {
  if (i >= bins()) return hi;
  return static_cast<double>(i) * ((hi - lo) / static_cast<double>(bins())) + lo;
}

uint64_t Histogram::total() const {
  uint64_t t = 0;
  for (uint64_t c : counts) t += c;
  return t;
}

std::vector<double> Histogram::density() const {
  std::vector<double> d(counts.size(), 0.0);
  const double t = static_cast<double>(total());
  if (t == 0) return d;
  for (int64_t i = 0; i < bins(); ++i)
    d[static_cast<size_t>(i)] = static_cast<double>(counts[static_cast<size_t>(i)]) / t /
                                (edge(i + 1) - edge(i));
  return d;
}

Histogram histogram(const std::vector<double>& values, const HistogramOptions& options) {
  check(options.bins >= 1, "histogram", "bins >= 1", std::to_string(options.bins));
  double lo = 0, hi = 1;
  bool any = false;
  double mn = 0, mx = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    if (!any) mn = mx = v;
    mn = std::min(mn, v);
    mx = std::max(mx, v);
    any = true;
  }
  if (any) lo = mn, hi = mx;
  if (options.lo) lo = *options.lo;
  if (options.hi) hi = *options.hi;
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
    fail("histogram", "a finite range with lo <= hi", "[" + core::exact_number(lo) + ", " + core::exact_number(hi) + "]");
  if (lo == hi) lo -= 0.5, hi += 0.5;

  Histogram h;
  h.lo = lo;
  h.hi = hi;
  const int64_t n = options.bins;
  h.counts.assign(static_cast<size_t>(n), 0);
  // numpy's two-step binning: a first guess from the scaled offset, then a correction against the
  // linspace edges, so values on an edge land exactly where np.histogram puts them.
  const double denom = hi - lo;
  for (double v : values) {
    if (std::isnan(v)) {
      ++h.nan;
      continue;
    }
    if (v < lo) {
      ++h.below;
      continue;
    }
    if (v > hi) {
      ++h.above;
      continue;
    }
    auto i = static_cast<int64_t>((v - lo) / denom * static_cast<double>(n));
    i = std::min(std::max<int64_t>(i, 0), n - 1);
    if (v < h.edge(i)) --i;
    if (i != n - 1 && v >= h.edge(i + 1)) ++i;
    ++h.counts[static_cast<size_t>(i)];
  }
  return h;
}

void to_json(io::Json& j, const Histogram& h) {
  j = io::Json{{"lo", h.lo},       {"hi", h.hi},       {"counts", h.counts},
               {"below", h.below}, {"above", h.above}, {"nan", h.nan}};
}

void from_json(const io::Json& j, Histogram& h) {
  const char* where = "Histogram JSON";
  if (!j.is_object()) fail(where, "an object", j.type_name());
  for (const char* key : {"lo", "hi"})
    if (!j.contains(key) || !j[key].is_number())
      fail(std::string(where) + ": \"" + key + "\"", "a number",
           j.contains(key) ? j[key].dump() : "no such key");
  if (!j.contains("counts") || !j["counts"].is_array() || j["counts"].empty())
    fail(std::string(where) + ": \"counts\"", "a non-empty array of counts",
         j.contains("counts") ? j["counts"].dump() : "no such key");
  Histogram r;
  r.lo = j["lo"].get<double>();
  r.hi = j["hi"].get<double>();
  for (const io::Json& c : j["counts"]) {
    if (!c.is_number_unsigned()) fail(std::string(where) + ": \"counts\"", "counts", c.dump());
    r.counts.push_back(c.get<uint64_t>());
  }
  for (auto [key, dst] : {std::pair{"below", &r.below}, {"above", &r.above}, {"nan", &r.nan}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_number_unsigned()) fail(std::string(where) + ": \"" + key + "\"", "a count", j[key].dump());
    *dst = j[key].get<uint64_t>();
  }
  if (!(r.lo < r.hi)) fail(where, "lo < hi", "[" + core::exact_number(r.lo) + ", " + core::exact_number(r.hi) + "]");
  h = r;
}

double quantile(std::vector<double> values, double q) {
  sort_checked(values);
  return sorted_quantile(values, q);
}

std::vector<double> quantiles(std::vector<double> values, const std::vector<double>& qs) {
  sort_checked(values);
  std::vector<double> out;
  out.reserve(qs.size());
  for (double q : qs) out.push_back(sorted_quantile(values, q));
  return out;
}

double median(std::vector<double> values) { return quantile(std::move(values), 0.5); }

}  // namespace diffmem::metrics
