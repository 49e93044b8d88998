#include "diffmem/attack/mia_lira.h"

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/metrics/gaussian.h"

namespace diffmem::attack {

void validate(const LiraOptions& o, const std::string& where) {
  check(o.statistic == "logit" || o.statistic == "raw", where, "statistic logit or raw",
        "\"" + o.statistic + "\"");
  check(o.variance_floor >= 0 && std::isfinite(o.variance_floor), where,
        "variance_floor a finite value >= 0", std::to_string(o.variance_floor));
  check(o.min_scores_for_variance >= 1, where, "min_scores_for_variance >= 1",
        std::to_string(o.min_scores_for_variance));
}

double lira_statistic(double error, const std::string& statistic) {
  if (statistic == "raw") return -error;
  if (statistic == "logit") return -std::log(std::expm1(std::max(error, 1e-300)));
  fail("LiRA statistic", "logit or raw", "\"" + statistic + "\"");
}

namespace {

struct Group {
  std::vector<double> values;
  double mean = 0;
  double ss = 0;  // Σ (x − mean)²
  void fit() {
    mean = 0;
    for (double v : values) mean += v;
    if (!values.empty()) mean /= static_cast<double>(values.size());
    ss = 0;
    for (double v : values) ss += (v - mean) * (v - mean);
  }
  int64_t n() const { return static_cast<int64_t>(values.size()); }
};

// Σ ss / Σ (n − 1) over groups with n ≥ 2; negative when there is none.
double pooled(const std::vector<Group>& groups) {
  double ss = 0, dof = 0;
  for (auto& g : groups)
    if (g.n() >= 2) {
      ss += g.ss;
      dof += static_cast<double>(g.n() - 1);
    }
  return dof > 0 ? ss / dof : -1.0;
}

}  // namespace

LiraResult lira_scores(const std::vector<double>& target_errors,
                       const std::vector<std::vector<double>>& shadow_errors,
                       const std::vector<std::vector<bool>>& shadow_members,
                       const LiraOptions& o) {
  validate(o, "LiRA options");
  const size_t n = target_errors.size();
  const size_t K = shadow_errors.size();
  check(K >= 1, "LiRA", "at least one shadow model", "none");
  check(shadow_members.size() == K, "LiRA", std::to_string(K) + " shadow member masks",
        std::to_string(shadow_members.size()));
  for (size_t k = 0; k < K; ++k) {
    check(shadow_errors[k].size() == n, "LiRA shadow " + std::to_string(k),
          std::to_string(n) + " scores", std::to_string(shadow_errors[k].size()));
    check(shadow_members[k].size() == n, "LiRA shadow " + std::to_string(k),
          std::to_string(n) + " member flags", std::to_string(shadow_members[k].size()));
  }
  auto stat = [&](double e, const std::string& where) {
    if (!std::isfinite(e)) fail(where, "finite errors", std::to_string(e));
    return lira_statistic(e, o.statistic);
  };

  std::vector<Group> in(n), out(n);
  for (size_t k = 0; k < K; ++k)
    for (size_t i = 0; i < n; ++i) {
      double s = stat(shadow_errors[k][i], "LiRA shadow " + std::to_string(k));
      (shadow_members[k][i] ? in[i] : out[i]).values.push_back(s);
    }
  for (size_t i = 0; i < n; ++i) {
    in[i].fit();
    out[i].fit();
  }

  LiraResult r;
  r.pooled_in_variance = pooled(in);
  r.pooled_out_variance = pooled(out);
  double shift = 0;
  int64_t both = 0;
  for (size_t i = 0; i < n; ++i) {
    if (in[i].n() > 0 && out[i].n() > 0) {
      shift += in[i].mean - out[i].mean;
      ++both;
    }
  }
  r.mean_shift = both > 0 ? shift / static_cast<double>(both) : 0.0;

  // A group too small for its own variance (or every group, with global_variance) uses the pooled one.
  auto variance = [&](const Group& g, double pooled_var, const char* group) {
    if (!o.global_variance && g.n() >= o.min_scores_for_variance)
      return std::max(g.ss / static_cast<double>(g.n()), o.variance_floor);  // np.var, ddof 0
    if (!o.global_variance) ++r.pooled_variances;
    if (pooled_var < 0)
      fail("LiRA", std::string("some example with two or more ") + group + " shadow scores",
           "none (train more shadow models)");
    return std::max(pooled_var, o.variance_floor);
  };
  auto need_shift = [&](const char* what) {
    if (both == 0)
      fail("LiRA", "some example with both IN and OUT shadow scores",
           std::string("none, and ") + what + " (train more shadow models)");
  };

  r.scores.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double s = stat(target_errors[i], "LiRA target");
    double mu_out = out[i].mean;
    if (out[i].n() == 0) {
      need_shift("an example lacks OUT scores");
      mu_out = in[i].mean - r.mean_shift;
      ++r.missing_out;
    }
    const double var_out = variance(out[i], r.pooled_out_variance, "OUT");
    if (!o.online) {
      r.scores[i] = -metrics::normal_log_sf((s - mu_out) / std::sqrt(var_out));
      continue;
    }
    double mu_in = in[i].mean;
    if (in[i].n() == 0) {
      need_shift("an example lacks IN scores");
      mu_in = mu_out + r.mean_shift;
      ++r.missing_in;
    }
    const double var_in = variance(in[i], r.pooled_in_variance, "IN");
    r.scores[i] = metrics::normal_log_pdf(s, mu_in, var_in) - metrics::normal_log_pdf(s, mu_out, var_out);
  }
  return r;
}

}  // namespace diffmem::attack
