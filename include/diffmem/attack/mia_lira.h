#pragma once
// LiRA (Carlini et al. 2022, "Membership Inference Attacks From First Principles"), the strong
// attack of the diffusion paper's §5.2: per example, Gaussians fitted to the statistic of shadow
// models that did (IN) and did not (OUT) train on it; the target's statistic is scored by a
// likelihood ratio. Plain doubles, no torch: the per-model errors come from attack/mia_scores.h.
//
// The statistic. LiRA wants a per-example quantity whose distribution over shadow models is close
// to Gaussian. For classifiers that is the logit-scaled confidence log(p / (1 − p)). The diffusion
// loss is a positive, right-skewed mean of squares whose spread grows with its level; reading
// exp(−loss) as the confidence gives logit(exp(−loss)) = −log(expm1(loss)) ≈ −log(loss) for the
// small losses at useful timesteps — a log transform, which makes the skewed loss near-Gaussian and
// its variance comparable across easy and hard examples. "logit" is the default for that reason;
// "raw" (−loss) is kept for comparison. Both are oriented so that higher = more member-like.
#include <cstdint>
#include <string>
#include <vector>

#include "diffmem/io/fields.h"

namespace diffmem::attack {

struct LiraOptions {
  bool online = true;              // IN and OUT Gaussians; offline: OUT only, one-sided test
  bool global_variance = false;    // one pooled variance per group instead of per example
  std::string statistic = "logit"; // logit | raw (see above)
  /// Variances are raised to at least this (identical shadow scores would give log-density ±inf).
  double variance_floor = 1e-12;
  /// Fewer scores than this in a group and that example's variance falls back to the pooled one
  /// (one score has no spread of its own; LiRA's code fits np.std to as few as it gets).
  int64_t min_scores_for_variance = 2;
};

DIFFMEM_FIELDS(LiraOptions, online, global_variance, statistic, variance_floor, min_scores_for_variance)
/// Throws diffmem::Error naming `where` and the field for an unknown statistic, a negative floor or
/// min_scores_for_variance < 1.
void validate(const LiraOptions& o, const std::string& where);

/// The statistic of one error (loss, SecMI t-error, PIA error): "raw" → −error, "logit" →
/// −log(expm1(error)) (error floored at 1e-300 so a perfect fit is large but finite).
double lira_statistic(double error, const std::string& statistic);

struct LiraResult {
  std::vector<double> scores;  // [N] higher = more likely a member
  /// Online: log N(s; μ_in, σ²_in) − log N(s; μ_out, σ²_out).
  /// Offline: −log(1 − Φ((s − μ_out) / σ_out)), the one-sided test's −log p-value.
  double pooled_in_variance = 0;   // Σ_i Σ_j (s_ij − μ_i)² / Σ_i (n_i − 1) over IN groups with n_i ≥ 2
  double pooled_out_variance = 0;  // the same over OUT groups
  /// Mean IN − OUT statistic over examples with both groups: stands in for an absent group's mean
  /// (an example that no shadow, or every shadow, trained on).
  double mean_shift = 0;
  int64_t missing_in = 0;        // examples without IN scores (online: μ_in = μ_out + mean_shift)
  int64_t missing_out = 0;       // examples without OUT scores (μ_out = μ_in − mean_shift)
  /// Per-example fits that used the pooled variance instead (groups with fewer than
  /// min_scores_for_variance scores, absent groups included; 0 with global_variance).
  int64_t pooled_variances = 0;
};

/// target_errors: [N]; shadow_errors: K × [N]; shadow_members: K × [N] (which rows shadow k trained
/// on). Throws diffmem::Error on mismatched lengths, K = 0, non-finite errors, or when no example
/// has both IN and OUT scores (online, or offline with examples lacking OUT) or no group has two
/// scores (pooled variance needed but undefined).
LiraResult lira_scores(const std::vector<double>& target_errors,
                       const std::vector<std::vector<double>>& shadow_errors,
                       const std::vector<std::vector<bool>>& shadow_members,
                       const LiraOptions& options);

}  // namespace diffmem::attack
