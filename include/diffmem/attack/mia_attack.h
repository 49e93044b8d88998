#pragma once
// Membership-inference attacks as one small interface (DESIGN convention 3): an attack turns the
// per-example errors of a target model (and, for LiRA, of shadow models) into a score per data row,
// higher = more likely a member. Errors come through ModelScoring, which caches each model's errors
// on disk keyed by the statistic's options, the model files and the data, so a LiRA run over K
// shadow models is resumable and a second attack over the same models recomputes nothing.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "diffmem/attack/mia_lira.h"
#include "diffmem/attack/mia_scores.h"
#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/json.h"
#include "diffmem/model/checkpoint.h"

namespace diffmem::attack {

/// A model under attack: a diffusers folder or a TorchScript file, and the rows it trained on.
struct MiaModel {
  std::filesystem::path path;
  std::vector<bool> members;  // [N] over the data set (LiRA's shadows need it; ground truth of a target)
};

/// What identifies a model's files for the cache: name, size and content hash (FNV-1a) of
/// config.json and the weights (or of the TorchScript file), never their path, so a moved run
/// directory keeps its cache. Throws naming the path when absent.
io::Json model_identity(const std::filesystem::path& model, const std::string& format);

class ModelScoring {
 public:
  /// The data's bytes (images, ids, labels) key the cache; cache_dir may be empty (no cache).
  ModelScoring(const data::Dataset& ds, std::filesystem::path cache_dir, model::LoadDenoiserOptions load,
               ProgressFn progress = nullptr);

  /// [N] errors of `scorer` for the model at `model`: read from the cache when an earlier call
  /// stored them under the same key, else computed and stored (npy + its key as JSON, atomically).
  std::vector<double> errors(const std::filesystem::path& model, const ExampleScorer& scorer);

  struct Timing {
    std::string model;
    std::string scorer;
    bool cached = false;
    double seconds = 0;
    double forwards_per_s = 0;  // examples × forwards_per_example / s (0 when cached)
    int64_t forwards = 0;       // model inputs this statistic costs: examples × forwards_per_example
  };
  const std::vector<Timing>& timings() const { return timings_; }
  const data::Dataset& data() const { return ds_; }

  /// The cache file a (model, scorer) pair maps to (its key sits beside it as .json).
  std::filesystem::path cache_file(const std::filesystem::path& model, const ExampleScorer& scorer) const;

 private:
  io::Json key(const std::filesystem::path& model, const ExampleScorer& scorer,
               const diffusion::SchedulerConfig& scheduler) const;
  std::filesystem::path cache_file(const std::filesystem::path& model, const ExampleScorer& scorer,
                                   const io::Json& key) const;

  const data::Dataset& ds_;
  std::filesystem::path cache_dir_;
  model::LoadDenoiserOptions load_;
  ProgressFn progress_;
  io::Json data_identity_;
  std::vector<Timing> timings_;
};

struct AttackInputs {
  MiaModel target;
  std::vector<MiaModel> shadows;
};

/// One statistic of one model over every data row: what ModelScoring::errors computes and caches.
struct ModelStatistic {
  std::filesystem::path model;
  std::shared_ptr<const ExampleScorer> scorer;
};

class MembershipAttack {
 public:
  virtual ~MembershipAttack() = default;
  /// Also the output folder's name: loss, secmi, pia, lira-online, lira-offline-global, ...
  virtual std::string name() const = 0;
  virtual io::Json options() const = 0;
  virtual bool needs_shadows() const { return false; }
  /// [N] over the data rows, higher = more likely a member. Facts worth keeping (fallback counts,
  /// pooled variances) go into `details`.
  virtual std::vector<double> scores(ModelScoring& scoring, const AttackInputs& inputs,
                                     io::Json& details) = 0;
  /// The same attack with its statistic at timestep t (t-sweeps).
  virtual std::unique_ptr<MembershipAttack> at_timestep(int64_t t) const = 0;
  /// The (model, statistic) pairs scores() asks `scoring` for, so that an MPI job's ranks can
  /// compute them side by side into the cache first (run_mia).
  virtual std::vector<ModelStatistic> model_statistics(const AttackInputs& inputs) const = 0;
};

/// Threshold on the target's own statistic: score = −error (the paper's loss attack with the loss;
/// SecMI's and PIA's published attacks with theirs).
std::unique_ptr<MembershipAttack> make_threshold_attack(std::shared_ptr<const ExampleScorer> scorer);

/// LiRA over the scorer's errors on the target and shadows (see attack/mia_lira.h).
std::unique_ptr<MembershipAttack> make_lira_attack(std::shared_ptr<const ExampleScorer> scorer,
                                                   const LiraOptions& options);

}  // namespace diffmem::attack
