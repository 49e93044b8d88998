#pragma once
// The split check ("blind baseline", Das et al. 2024; CopyMark, 2024): before an attack's numbers
// are believed, a model-free classifier tries to tell members from non-members from simple image
// statistics (and caption statistics, when the data set has captions). If it does better than
// chance, the split itself is biased — members and non-members differ in distribution — and an
// attack's AUC measures that difference as much as memorization.
//
// Features per image (uint8 H×W×C): mean and standard deviation of all pixels, per-channel means
// (colour), mean |horizontal| and |vertical| differences (edges, sharpness), fractions of dark
// (< 32) and bright (> 223) pixels, the entropy of a 16-bin grey histogram, border-minus-centre
// mean (background), colourfulness (Hasler & Süsstrunk; colour only). Per caption: characters,
// words, mean word length, digit, upper-case and punctuation fractions.
// Classifier: L2-regularized logistic regression (Newton's method) on the features and their
// squares, standardized on the training folds; k-fold cross-validation, folds stratified by class.
// The unit is the distinct image: rows that share an id (planted copies) and a member flag count
// once, so an image copied 16 times neither weighs 16 times in the fit nor fills 16 places in the
// ROC. The out-of-fold scores give an ROC (over distinct images) with bootstrap intervals. The split is called biased when the AUC's interval lies above
// 0.5. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "diffmem/data/dataset.h"
#include "diffmem/io/fields.h"
#include "diffmem/metrics/roc.h"

namespace diffmem::attack {

struct SplitCheckOptions {
  int64_t folds = 5;       // >= 2
  uint64_t seed = 0;       // fold assignment
  double l2 = 1e-2;        // ridge penalty per example on the standardized weights
  bool captions = true;    // add caption statistics when the data set has captions
  metrics::BootstrapOptions bootstrap;
};

DIFFMEM_FIELDS(SplitCheckOptions, folds, seed, l2, captions, bootstrap)

struct SplitCheckResult {
  std::vector<std::string> features;  // names, in column order (squares not listed)
  std::vector<double> scores;         // out-of-fold P(member) per distinct image (first row's order)
  std::vector<int64_t> ids;           // those images' ids
  std::vector<bool> members;          // and their member flags
  metrics::RocSummary summary;        // ROC of the out-of-fold scores, with intervals
  bool biased = false;                // the AUC interval's low end is above 0.5
  /// The features that carry the signal: standardized weights of a fit on all rows, largest
  /// magnitude first (at most 5), as "name (+w)" / "name² (−w)".
  std::vector<std::string> strongest;
};

/// The image (and caption) statistics of every row: rows × features, names in `names`.
std::vector<std::vector<double>> split_features(const data::Dataset& ds, bool captions,
                                                std::vector<std::string>& names);

/// Why the check cannot run on this split ("" when it can): fewer than `folds` distinct ids in a
/// class. Small runs record this instead of a verdict.
std::string split_check_unavailable(const data::Dataset& ds, const std::vector<bool>& is_member,
                                    int64_t folds);

/// Runs the check on the distinct images of ds with the given member flags (one per row, both
/// classes present, at least `folds` distinct ids in each). Throws diffmem::Error naming the problem.
SplitCheckResult split_check(const data::Dataset& ds, const std::vector<bool>& is_member,
                             const SplitCheckOptions& options = {});

/// Members from one data set and non-members from another (CopyMark's LAION-vs-COCO setting) as
/// one data set and its member flags: rows of `members` first, then `nonmembers`; the second set's
/// ids are shifted past the first's so distinct images keep distinct ids; captions kept only when
/// both sets have them. Throws diffmem::Error naming `where_nonmembers` when the image shapes differ.
data::Dataset join_for_split_check(const data::Dataset& members, const data::Dataset& nonmembers,
                                   const std::string& where_nonmembers, std::vector<bool>& is_member);

/// {method, features, folds, seed, auc, ci, tpr_at_fpr_0.01, …, biased, verdict, strongest}.
io::Json split_check_json(const SplitCheckResult& r, const SplitCheckOptions& options);

/// What an attack's summary.json keeps of split_check_json's object (or of {"skipped": why}):
/// {auc, ci_auc, biased, verdict}, or the skipped object as it is.
io::Json split_check_brief(const io::Json& full);

/// One sentence for people: "no sign of a biased split (AUC 0.51 [0.45, 0.57])" or
/// "biased split: image statistics alone tell members from non-members (AUC 0.78 [0.72, 0.83])".
std::string split_check_verdict(const SplitCheckResult& r);

}  // namespace diffmem::attack
