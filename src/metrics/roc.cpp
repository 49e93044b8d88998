#include "diffmem/metrics/roc.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>

#include "diffmem/core/atomic_file.h"
#include "diffmem/core/error.h"
#include "diffmem/core/format.h"

namespace diffmem::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

io::Json number_or_null(double v) { return std::isfinite(v) ? io::Json(v) : io::Json(nullptr); }

struct Counts {
  uint64_t positives = 0;
  uint64_t negatives = 0;
};

Counts check_input(const char* where, const std::vector<double>& scores,
                   const std::vector<bool>& is_member) {
  check(scores.size() == is_member.size(), where, "as many labels as scores (" +
        std::to_string(scores.size()) + ")", std::to_string(is_member.size()) + " labels");
  Counts c;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i]))
      fail(std::string(where) + ": scores[" + std::to_string(i) + "]", "a finite score", core::exact_number(scores[i]));
    (is_member[i] ? c.positives : c.negatives) += 1;
  }
  check(c.positives > 0 && c.negatives > 0, where, "at least one member and one non-member",
        std::to_string(c.positives) + " members and " + std::to_string(c.negatives) +
            " non-members");
  return c;
}

// Indices of the scores in the given order; ties keep input order (irrelevant to the results,
// which treat a tie group as one unit, but it keeps the sort deterministic).
std::vector<size_t> order_by_score(const std::vector<double>& scores, bool descending) {
  std::vector<size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  if (descending)
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  else
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  return idx;
}

bool fpr_within(double fpr, double target) { return fpr <= target * (1 + 1e-12); }

void check_rate(const char* where, double target) {
  if (!(target >= 0 && target <= 1)) fail(where, "a target FPR in [0, 1]", core::exact_number(target));
}

}  // namespace

double RocCurve::auc() const {
  // Each segment's trapezoid; summing in order keeps the rounding error ~ n·ulp.
  double area = 0;
  for (size_t i = 1; i < fpr.size(); ++i) area += (fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]);
  return area / 2;
}

double RocCurve::tpr_at_fpr(double target_fpr) const {
  check_rate("tpr_at_fpr", target_fpr);
  auto it = std::upper_bound(fpr.begin(), fpr.end(), target_fpr,
                             [](double t, double f) { return !fpr_within(f, t); });
  if (it == fpr.begin()) return 0;  // only possible for a curve that does not start at (0, 0)
  return tpr[static_cast<size_t>(it - fpr.begin()) - 1];
}

size_t RocCurve::balanced_accuracy_index() const {
  size_t best = 0;
  for (size_t i = 1; i < fpr.size(); ++i)
    if (tpr[i] - fpr[i] > tpr[best] - fpr[best]) best = i;
  return best;
}

double RocCurve::balanced_accuracy() const {
  if (fpr.empty()) return 0.5;
  size_t i = balanced_accuracy_index();
  return (tpr[i] + 1 - fpr[i]) / 2;
}

RocCurve roc_curve(const std::vector<double>& scores, const std::vector<bool>& is_member) {
  Counts c = check_input("roc_curve", scores, is_member);
  std::vector<size_t> idx = order_by_score(scores, /*descending=*/true);
  RocCurve r;
  r.positives = c.positives;
  r.negatives = c.negatives;
  r.fpr.push_back(0);
  r.tpr.push_back(0);
  r.thresholds.push_back(kInf);
  const double P = static_cast<double>(c.positives), N = static_cast<double>(c.negatives);
  uint64_t tp = 0, fp = 0;
  for (size_t i = 0; i < idx.size();) {
    const double s = scores[idx[i]];
    // A whole tie group crosses the threshold at once.
    for (; i < idx.size() && scores[idx[i]] == s; ++i) (is_member[idx[i]] ? tp : fp) += 1;
    r.fpr.push_back(static_cast<double>(fp) / N);
    r.tpr.push_back(static_cast<double>(tp) / P);
    r.thresholds.push_back(s);
  }
  return r;
}

RocCurve roc_curve_from_groups(const std::vector<double>& member_scores,
                               const std::vector<double>& nonmember_scores) {
  std::vector<double> scores(member_scores);
  scores.insert(scores.end(), nonmember_scores.begin(), nonmember_scores.end());
  std::vector<bool> is_member(scores.size(), false);
  std::fill(is_member.begin(), is_member.begin() + static_cast<ptrdiff_t>(member_scores.size()),
            true);
  return roc_curve(scores, is_member);
}

double mann_whitney_auc(const std::vector<double>& scores, const std::vector<bool>& is_member) {
  Counts c = check_input("mann_whitney_auc", scores, is_member);
  std::vector<size_t> idx = order_by_score(scores, /*descending=*/false);
  // Twice the midranks stay integers, so U is computed exactly: the tie group at 0-based positions
  // [i, j) shares the midrank (i + 1 + j) / 2.
  uint64_t rank_sum_x2 = 0;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    uint64_t members = 0;
    for (; j < idx.size() && scores[idx[j]] == scores[idx[i]]; ++j) members += is_member[idx[j]];
    rank_sum_x2 += members * (i + 1 + j);
    i = j;
  }
  const uint64_t u_x2 = rank_sum_x2 - c.positives * (c.positives + 1);
  return static_cast<double>(u_x2) /
         (2.0 * static_cast<double>(c.positives) * static_cast<double>(c.negatives));
}

RocCurve compact(const RocCurve& curve) {
  RocCurve r;
  r.positives = curve.positives;
  r.negatives = curve.negatives;
  const size_t n = curve.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && i + 1 < n) {
      bool vertical = curve.fpr[i - 1] == curve.fpr[i] && curve.fpr[i] == curve.fpr[i + 1];
      bool horizontal = curve.tpr[i - 1] == curve.tpr[i] && curve.tpr[i] == curve.tpr[i + 1];
      if (vertical || horizontal) continue;
    }
    r.fpr.push_back(curve.fpr[i]);
    r.tpr.push_back(curve.tpr[i]);
    r.thresholds.push_back(curve.thresholds[i]);
  }
  return r;
}

RocSummary summarize(const RocCurve& curve, const std::vector<double>& extra_fprs) {
  check(curve.size() >= 2, "summarize", "a ROC curve with at least 2 points",
        std::to_string(curve.size()) + " points");
  RocSummary s;
  s.members = curve.positives;
  s.nonmembers = curve.negatives;
  s.auc = curve.auc();
  // With a known non-member count, a TPR at an FPR that allows no false positive is not measurable.
  auto tpr_at = [&](double f) {
    return curve.negatives == 0 || fpr_measurable(f, curve.negatives) ? curve.tpr_at_fpr(f) : kNaN;
  };
  s.tpr_at_fpr_0_1pct = tpr_at(0.001);
  s.tpr_at_fpr_1pct = tpr_at(0.01);
  size_t b = curve.balanced_accuracy_index();
  s.balanced_accuracy = curve.balanced_accuracy();
  s.balanced_accuracy_threshold = curve.thresholds[b];
  for (double f : extra_fprs) {
    check(f >= 0 && f <= 1, "summarize", "FPRs in [0, 1]", core::exact_number(f));
    s.tpr_at_fpr.push_back({f, tpr_at(f)});
  }
  return s;
}

RocSummary summarize(const std::vector<double>& scores, const std::vector<bool>& is_member,
                     const std::vector<double>& extra_fprs, const BootstrapOptions& bootstrap,
                     const std::vector<int64_t>* groups) {
  RocSummary s = summarize(roc_curve(scores, is_member), extra_fprs);
  if (bootstrap.resamples > 0) s.ci = bootstrap_roc(scores, is_member, extra_fprs, bootstrap, groups);
  return s;
}

void to_json(io::Json& j, const RocSummary& s) {
  io::Json extra = io::Json::array();
  for (const FprTpr& p : s.tpr_at_fpr) extra.push_back({{"fpr", p.fpr}, {"tpr", number_or_null(p.tpr)}});
  j = io::Json{{"members", s.members},
               {"nonmembers", s.nonmembers},
               {"auc", s.auc},
               {"tpr_at_fpr_0.001", number_or_null(s.tpr_at_fpr_0_1pct)},
               {"tpr_at_fpr_0.01", number_or_null(s.tpr_at_fpr_1pct)},
               {"balanced_accuracy", s.balanced_accuracy},
               {"balanced_accuracy_threshold", number_or_null(s.balanced_accuracy_threshold)},
               {"tpr_at_fpr", extra}};
  if (s.nonmembers > 0) {
    j["min_measurable_fpr"] = min_measurable_fpr(s.nonmembers);
    io::Json nm = io::Json::array();
    if (std::isnan(s.tpr_at_fpr_0_1pct)) nm.push_back("tpr_at_fpr_0.001");
    if (std::isnan(s.tpr_at_fpr_1pct)) nm.push_back("tpr_at_fpr_0.01");
    for (const FprTpr& p : s.tpr_at_fpr)
      if (std::isnan(p.tpr)) nm.push_back("tpr_at_fpr=" + core::exact_number(p.fpr));
    j["not_measurable"] = nm;
  }
  if (s.ci) {
    const RocIntervals& c = *s.ci;
    io::Json extra_ci = io::Json::array();
    for (const Interval& i : c.tpr_at_fpr) extra_ci.push_back(interval_json(i));
    j["ci"] = {{"level", c.options.level},
               {"resamples", c.options.resamples},
               {"seed", c.options.seed},
               {"method", c.clustered ? "stratified percentile bootstrap, planted copies resampled together"
                                      : "stratified percentile bootstrap"},
               {"auc", interval_json(c.auc)},
               {"tpr_at_fpr_0.001", interval_json(c.tpr_at_fpr_0_1pct)},
               {"tpr_at_fpr_0.01", interval_json(c.tpr_at_fpr_1pct)},
               {"balanced_accuracy", interval_json(c.balanced_accuracy)},
               {"tpr_at_fpr", extra_ci}};
  }
}

namespace {
const io::Json& field(const io::Json& j, const std::string& key, const char* what) {
  if (!j.is_object()) fail("RocSummary JSON", "an object", j.type_name());
  auto it = j.find(key);
  if (it == j.end()) fail("RocSummary JSON: \"" + key + "\"", std::string(what), "no such key");
  bool ok = std::string(what) == "a number" ? it->is_number()
                                            : it->is_number_unsigned();
  if (!ok) fail("RocSummary JSON: \"" + key + "\"", what, it->dump());
  return *it;
}
// A number, or null for "not measurable" (NaN).
double nullable(const io::Json& j, const std::string& key) {
  auto it = j.find(key);
  if (it != j.end() && it->is_null()) return kNaN;
  return field(j, key, "a number").get<double>();
}

// [low, high], or null (an invalid interval).
Interval interval(const io::Json& c, const std::string& key) {
  auto it = c.find(key);
  if (it == c.end() || it->is_null()) return {};
  if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number() || !(*it)[1].is_number())
    fail("RocSummary JSON: \"ci/" + key + "\"", "[low, high] or null", it->dump());
  return {(*it)[0].get<double>(), (*it)[1].get<double>()};
}
}  // namespace

void from_json(const io::Json& j, RocSummary& s) {
  s.members = field(j, "members", "a count").get<uint64_t>();
  s.nonmembers = field(j, "nonmembers", "a count").get<uint64_t>();
  s.auc = field(j, "auc", "a number").get<double>();
  s.tpr_at_fpr_0_1pct = nullable(j, "tpr_at_fpr_0.001");
  s.tpr_at_fpr_1pct = nullable(j, "tpr_at_fpr_0.01");
  s.balanced_accuracy = field(j, "balanced_accuracy", "a number").get<double>();
  auto t = j.find("balanced_accuracy_threshold");
  if (t != j.end() && t->is_null())
    s.balanced_accuracy_threshold = kInf;
  else
    s.balanced_accuracy_threshold = field(j, "balanced_accuracy_threshold", "a number").get<double>();
  s.tpr_at_fpr.clear();
  auto e = j.find("tpr_at_fpr");
  if (e == j.end()) return;
  if (!e->is_array()) fail("RocSummary JSON: \"tpr_at_fpr\"", "an array", e->dump());
  for (const io::Json& p : *e) s.tpr_at_fpr.push_back({field(p, "fpr", "a number").get<double>(), nullable(p, "tpr")});
  s.ci.reset();
  auto c = j.find("ci");
  if (c == j.end() || c->is_null()) return;
  if (!c->is_object()) fail("RocSummary JSON: \"ci\"", "an object", c->dump());
  RocIntervals iv;
  iv.options.level = field(*c, "level", "a number").get<double>();
  iv.options.resamples = static_cast<int64_t>(field(*c, "resamples", "a number").get<double>());
  iv.options.seed = field(*c, "seed", "a count").get<uint64_t>();
  iv.clustered = c->value("method", std::string()).find("copies") != std::string::npos;
  iv.auc = interval(*c, "auc");
  iv.tpr_at_fpr_0_1pct = interval(*c, "tpr_at_fpr_0.001");
  iv.tpr_at_fpr_1pct = interval(*c, "tpr_at_fpr_0.01");
  iv.balanced_accuracy = interval(*c, "balanced_accuracy");
  s.ci = iv;
}

void write_roc_csv(const std::filesystem::path& path, const RocCurve& curve) {
  check(curve.tpr.size() == curve.size() && curve.thresholds.size() == curve.size(),
        path.string(), "a ROC curve with equal-length fpr/tpr/thresholds",
        std::to_string(curve.fpr.size()) + "/" + std::to_string(curve.tpr.size()) + "/" +
            std::to_string(curve.thresholds.size()));
  std::string text = "fpr,tpr,threshold\n";
  for (size_t i = 0; i < curve.size(); ++i)
    text += core::exact_number(curve.fpr[i]) + "," + core::exact_number(curve.tpr[i]) + "," + core::exact_number(curve.thresholds[i]) + "\n";
  core::write_file_atomic(path, text);
}

RocCurve read_roc_csv(const std::filesystem::path& path) {
  const std::string text = core::read_file(path);
  RocCurve r;
  size_t pos = 0, line_no = 0;
  auto where = [&] { return path.string() + ":" + std::to_string(line_no); };
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1) {
      check(line == "fpr,tpr,threshold", where(), "the header \"fpr,tpr,threshold\"",
            "\"" + line + "\"");
      continue;
    }
    if (line.empty()) continue;
    double v[3];
    const char* p = line.c_str();
    for (int k = 0; k < 3; ++k) {
      char* q = nullptr;
      v[k] = std::strtod(p, &q);
      const char want = k < 2 ? ',' : '\0';
      if (q == p || *q != want || std::isnan(v[k]))
        fail(where(), "three numbers \"fpr,tpr,threshold\"", "\"" + line + "\"");
      p = q + 1;
    }
    if (!(v[0] >= 0 && v[0] <= 1 && v[1] >= 0 && v[1] <= 1))
      fail(where(), "fpr and tpr in [0, 1]", "\"" + line + "\"");
    if (!r.fpr.empty() &&
        (v[0] < r.fpr.back() || v[1] < r.tpr.back() || !(v[2] < r.thresholds.back())))
      fail(where(), "non-decreasing fpr and tpr and a decreasing threshold", "\"" + line + "\"");
    r.fpr.push_back(v[0]);
    r.tpr.push_back(v[1]);
    r.thresholds.push_back(v[2]);
  }
  check(line_no >= 1, path.string(), "the header \"fpr,tpr,threshold\"", "an empty file");
  check(r.size() >= 2 && r.fpr.front() == 0 && r.tpr.front() == 0 && r.fpr.back() == 1 &&
            r.tpr.back() == 1,
        path.string(), "a full ROC curve from (0, 0) to (1, 1)",
        r.size() < 2 ? std::to_string(r.size()) + " points"
                     : "(" + core::exact_number(r.fpr.front()) + ", " + core::exact_number(r.tpr.front()) + ") to (" +
                           core::exact_number(r.fpr.back()) + ", " + core::exact_number(r.tpr.back()) + ")");
  return r;
}

}  // namespace diffmem::metrics
