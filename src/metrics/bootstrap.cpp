#include "diffmem/metrics/bootstrap.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <numeric>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/core/format.h"
#include "diffmem/core/rng.h"
#include "diffmem/metrics/histogram.h"

namespace diffmem::metrics {
namespace {

// The examples sorted by score, highest first, cut into groups of equal score (one ROC point per
// group, as roc_curve draws it).
// Resampling units: one row each, or (cluster bootstrap) the rows of one group and class together;
// a unit holds the score-group indices of its rows.
struct Sorted {
  std::vector<std::vector<uint32_t>> member_units;
  std::vector<std::vector<uint32_t>> nonmember_units;
  size_t member_rows = 0, nonmember_rows = 0;
  size_t groups = 0;
};

Sorted sort_groups(const std::vector<double>& scores, const std::vector<bool>& is_member,
                   const std::vector<int64_t>* clusters) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<uint32_t> group(scores.size());
  uint32_t g = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    if (k > 0 && scores[order[k]] != scores[order[k - 1]]) ++g;
    group[order[k]] = g;
  }
  Sorted s;
  s.groups = scores.empty() ? 0 : g + 1;
  std::map<std::pair<bool, int64_t>, size_t> unit_of;
  for (size_t i = 0; i < scores.size(); ++i) {
    auto& units = is_member[i] ? s.member_units : s.nonmember_units;
    (is_member[i] ? s.member_rows : s.nonmember_rows) += 1;
    if (!clusters) {
      units.push_back({group[i]});
      continue;
    }
    const auto [it, fresh] = unit_of.emplace(std::make_pair(bool(is_member[i]), (*clusters)[i]), units.size());
    if (fresh) units.emplace_back();
    units[it->second].push_back(group[i]);
  }
  return s;
}

// One resample's statistics from its per-group counts of members (tp) and non-members (fp).
struct Stats {
  double auc = 0;
  double balanced = 0;
  std::vector<double> tpr_at;  // at each asked FPR
};

void sweep(const std::vector<uint32_t>& tp, const std::vector<uint32_t>& fp, double P, double N,
           const std::vector<double>& fprs, Stats& out) {
  // A target FPR f admits the points with FP / N <= f (1e-12 relative slack, as roc.h).
  std::vector<double> fp_limit(fprs.size());
  for (size_t k = 0; k < fprs.size(); ++k) fp_limit[k] = fprs[k] * N * (1 + 1e-12);
  out.tpr_at.assign(fprs.size(), 0.0);
  double tps = 0, fps = 0, area = 0, best = 0;
  for (size_t g = 0; g < tp.size(); ++g) {
    const double dt = tp[g], df = fp[g];
    area += df * (tps + dt / 2);
    tps += dt;
    fps += df;
    best = std::max(best, tps / P - fps / N);
    for (size_t k = 0; k < fprs.size(); ++k)
      if (fps <= fp_limit[k]) out.tpr_at[k] = tps / P;
  }
  out.auc = area / (P * N);
  out.balanced = (1 + best) / 2;
}

}  // namespace

io::Json interval_json(const Interval& i) {
  return i.valid() ? io::Json::array({i.low, i.high}) : io::Json(nullptr);
}

void validate(const BootstrapOptions& o) {
  check(o.resamples >= 0, "bootstrap.resamples", "a count >= 0", std::to_string(o.resamples));
  check(o.level > 0 && o.level < 1, "bootstrap.level", "a confidence level in (0, 1)", core::exact_number(o.level));
}

Interval percentile_interval(std::vector<double> statistics, double level) {
  check(level > 0 && level < 1, "percentile_interval", "a level in (0, 1)", core::exact_number(level));
  statistics.erase(std::remove_if(statistics.begin(), statistics.end(), [](double v) { return std::isnan(v); }),
                   statistics.end());
  if (statistics.empty()) return {};
  const auto q = quantiles(std::move(statistics), {(1 - level) / 2, (1 + level) / 2});
  return {q[0], q[1]};
}

bool fpr_measurable(double fpr, uint64_t negatives) {
  return negatives > 0 && fpr * static_cast<double>(negatives) >= 1 - 1e-9;
}

double min_measurable_fpr(uint64_t negatives) {
  return negatives > 0 ? 1.0 / static_cast<double>(negatives) : 1.0;
}

RocIntervals bootstrap_roc(const std::vector<double>& scores, const std::vector<bool>& is_member,
                           const std::vector<double>& extra_fprs, const BootstrapOptions& options,
                           const std::vector<int64_t>* groups) {
  validate(options);
  check(scores.size() == is_member.size(), "bootstrap_roc",
        "as many labels as scores (" + std::to_string(scores.size()) + ")",
        std::to_string(is_member.size()) + " labels");
  for (size_t i = 0; i < scores.size(); ++i)
    if (!std::isfinite(scores[i]))
      fail("bootstrap_roc: scores[" + std::to_string(i) + "]", "a finite score", core::exact_number(scores[i]));
  for (double f : extra_fprs) check(f >= 0 && f <= 1, "bootstrap_roc", "FPRs in [0, 1]", core::exact_number(f));
  if (groups)
    check(groups->size() == scores.size(), "bootstrap_roc", "one group per score (" + std::to_string(scores.size()) + ")",
          std::to_string(groups->size()));
  const Sorted s = sort_groups(scores, is_member, groups);
  const size_t P = s.member_rows, N = s.nonmember_rows;
  check(P > 0 && N > 0, "bootstrap_roc", "at least one member and one non-member",
        std::to_string(P) + " members and " + std::to_string(N) + " non-members");

  RocIntervals r;
  r.options = options;
  r.clustered = groups != nullptr;
  if (options.resamples == 0) {
    r.tpr_at_fpr.resize(extra_fprs.size());
    return r;
  }
  // Asked FPRs: 0.1%, 1%, the extras, then the band's grid (log-spaced from 1/N to 1).
  std::vector<double> fprs = {0.001, 0.01};
  fprs.insert(fprs.end(), extra_fprs.begin(), extra_fprs.end());
  const size_t band_at = fprs.size();
  const double lo = min_measurable_fpr(N);
  const int band_points = lo < 1 ? 48 : 1;
  for (int k = 0; k < band_points; ++k) {
    const double f = band_points == 1 ? 1.0 : lo * std::pow(1 / lo, double(k) / (band_points - 1));
    r.band_fpr.push_back(std::min(1.0, f));
  }
  fprs.insert(fprs.end(), r.band_fpr.begin(), r.band_fpr.end());

  const size_t R = static_cast<size_t>(options.resamples);
  std::vector<double> aucs(R), balanced(R);
  std::vector<std::vector<double>> at(fprs.size(), std::vector<double>(R));
  std::vector<uint32_t> tp(s.groups), fp(s.groups);
  Stats st;
  for (size_t rep = 0; rep < R; ++rep) {
    core::Rng rng(core::derive_seed(options.seed, rep));
    std::fill(tp.begin(), tp.end(), 0u);
    std::fill(fp.begin(), fp.end(), 0u);
    // As many units as each class has; with clusters the resample's row count varies, and the
    // rates are taken over the rows drawn.
    size_t p = 0, n = 0;
    for (size_t k = 0, u = s.member_units.size(); k < u; ++k)
      for (uint32_t g : s.member_units[rng.below(u)]) ++tp[g], ++p;
    for (size_t k = 0, u = s.nonmember_units.size(); k < u; ++k)
      for (uint32_t g : s.nonmember_units[rng.below(u)]) ++fp[g], ++n;
    sweep(tp, fp, double(p), double(n), fprs, st);
    aucs[rep] = st.auc;
    balanced[rep] = st.balanced;
    for (size_t k = 0; k < fprs.size(); ++k) at[k][rep] = st.tpr_at[k];
  }
  r.auc = percentile_interval(aucs, options.level);
  r.balanced_accuracy = percentile_interval(balanced, options.level);
  auto interval_at = [&](size_t k) {
    return fpr_measurable(fprs[k], N) ? percentile_interval(at[k], options.level) : Interval{};
  };
  r.tpr_at_fpr_0_1pct = interval_at(0);
  r.tpr_at_fpr_1pct = interval_at(1);
  for (size_t k = 2; k < band_at; ++k) r.tpr_at_fpr.push_back(interval_at(k));
  for (size_t k = band_at; k < fprs.size(); ++k) {
    const Interval b = percentile_interval(at[k], options.level);
    r.band_low.push_back(b.low);
    r.band_high.push_back(b.high);
  }
  return r;
}

std::vector<Interval> bootstrap_hit_rates(const std::vector<int64_t>& hit_of_draw,
                                          const std::vector<std::vector<int64_t>>& strata,
                                          const BootstrapOptions& options) {
  validate(options);
  std::vector<Interval> out(strata.size());
  if (options.resamples == 0) return out;
  // Items by dense index; the draws that hit something, as dense indices.
  std::map<int64_t, uint32_t> dense;
  for (const auto& st : strata)
    for (int64_t item : st) dense.emplace(item, static_cast<uint32_t>(dense.size()));
  const uint32_t kNone = UINT32_MAX;
  std::vector<uint32_t> hit(hit_of_draw.size(), kNone);
  for (size_t g = 0; g < hit_of_draw.size(); ++g) {
    const auto it = dense.find(hit_of_draw[g]);
    if (hit_of_draw[g] >= 0 && it != dense.end()) hit[g] = it->second;
  }
  std::vector<std::vector<uint32_t>> st_dense(strata.size());
  for (size_t s = 0; s < strata.size(); ++s)
    for (int64_t item : strata[s]) st_dense[s].push_back(dense.at(item));

  const size_t R = static_cast<size_t>(options.resamples), G = hit.size();
  std::vector<std::vector<double>> rates(strata.size(), std::vector<double>(R));
  std::vector<uint32_t> stamp(dense.size(), 0);  // == rep + 1: hit in resample rep
  for (size_t rep = 0; rep < R; ++rep) {
    core::Rng rng(core::derive_seed(options.seed, rep));
    const uint32_t mark = static_cast<uint32_t>(rep + 1);
    for (size_t k = 0; k < G; ++k) {
      const uint32_t h = hit[rng.below(G)];
      if (h != kNone) stamp[h] = mark;
    }
    for (size_t s = 0; s < strata.size(); ++s) {
      const auto& items = st_dense[s];
      if (items.empty()) continue;
      size_t got = 0;
      for (size_t k = 0; k < items.size(); ++k) got += stamp[items[rng.below(items.size())]] == mark;
      rates[s][rep] = double(got) / double(items.size());
    }
  }
  for (size_t s = 0; s < strata.size(); ++s)
    if (!strata[s].empty()) out[s] = percentile_interval(rates[s], options.level);
  return out;
}

void write_roc_band_csv(const std::string& path, const RocIntervals& iv) {
  std::string text = "fpr,tpr_low,tpr_high\n";
  for (size_t i = 0; i < iv.band_fpr.size(); ++i)
    text += core::exact_number(iv.band_fpr[i]) + "," + core::exact_number(iv.band_low[i]) + "," + core::exact_number(iv.band_high[i]) + "\n";
  core::write_file_atomic(path, text);
}

RocBand read_roc_band_csv(const std::string& path) {
  const std::string text = core::read_file(path);
  RocBand b;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    const std::string where = path + ":" + std::to_string(line_no);
    if (line_no == 1) {
      check(line == "fpr,tpr_low,tpr_high", where, "the header \"fpr,tpr_low,tpr_high\"", "\"" + line + "\"");
      continue;
    }
    if (line.empty()) continue;
    double v[3];
    const char* p = line.c_str();
    for (int k = 0; k < 3; ++k) {
      char* q = nullptr;
      v[k] = std::strtod(p, &q);
      if (q == p || *q != (k < 2 ? ',' : '\0') || !std::isfinite(v[k]))
        fail(where, "three numbers \"fpr,tpr_low,tpr_high\"", "\"" + line + "\"");
      p = q + 1;
    }
    if (!(v[0] >= 0 && v[0] <= 1 && v[1] >= 0 && v[2] <= 1 && v[1] <= v[2]))
      fail(where, "rates in [0, 1] with tpr_low <= tpr_high", "\"" + line + "\"");
    b.fpr.push_back(v[0]);
    b.low.push_back(v[1]);
    b.high.push_back(v[2]);
  }
  check(line_no >= 1, path, "the header \"fpr,tpr_low,tpr_high\"", "an empty file");
  return b;
}

}  // namespace diffmem::metrics
