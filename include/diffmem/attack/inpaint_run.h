#pragma once
// One inpainting-attack run as `diffmem inpaint` performs it. Targets are drawn (seeded) half from
// the model's members, half from its non-members; each is attacked (inpaint_attack.h) and scored
// by −(best distance), so the membership metrics read "higher = more likely a member". Writes
//   OUT/inpaint.csv      target,row,id,member,best_distance,rank1_distance,rank1_loss,
//                        oracle_distance,mean_kept_distance
//   OUT/summary.json     ROC summary (metrics::to_json keys), mean distances per group, options
//   OUT/roc.csv          the ROC of score = −best_distance (compacted)
//   OUT/mask.png         the mask (white = hidden)
//   OUT/strips/*.png     per shown target: original, masked (hidden = gray), the kept completions
//   OUT/strips.png       all shown strips, members first
//   OUT/targets/row-NNNNNNN.{npy,json}  per-target results: a rerun with the same options reuses
//                        every finished target (a larger --n-targets only adds targets)
#include <cstdint>
#include <filesystem>
#include <vector>

#include "diffmem/attack/inpaint_attack.h"
#include "diffmem/core/progress.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/io/json.h"
#include "diffmem/metrics/roc.h"
#include "diffmem/model/checkpoint.h"

namespace diffmem::attack {

struct InpaintRunOptions {
  std::filesystem::path model;  // model folder (members.npy there is the ground truth)
  std::filesystem::path data;   // dataset directory the model's rows index
  std::filesystem::path out;
  InpaintAttackOptions attack;
  int64_t show = 8;             // strips for the first `show` members and `show` non-members
  int64_t strip_scale = 2;      // nearest-neighbour magnification of the strips
  model::LoadDenoiserOptions load;
  metrics::BootstrapOptions bootstrap;  // intervals of the ROC numbers (resamples 0 = none)
};

DIFFMEM_VISIT_FIELDS(InpaintRunOptions) {
  v("model", o.model);
  v("data", o.data);
  v("out", o.out);
  v("attack", o.attack);
  v("show", o.show);
  v("strip_scale", o.strip_scale);
  v("format", o.load.format);
  v("device", o.load.device);
  v("bootstrap", o.bootstrap);
}

struct InpaintRunResult {
  metrics::RocSummary summary;
  int64_t members = 0;        // member targets
  int64_t nonmembers = 0;
  int64_t computed = 0;       // targets attacked in this run
  int64_t cached = 0;         // targets whose results a previous run left
  double mean_distance_members = 0;     // mean best_distance
  double mean_distance_nonmembers = 0;
  std::string ground_truth;   // the members.npy used
  double seconds = 0;
};

/// The targets: the first n/2 of a seeded permutation of the members (one row per distinct id)
/// and the same of the non-members, sorted by row. A group smaller than n/2 gives all it has. The
/// permutation's prefix property makes a larger n a superset of a smaller one.
std::vector<InpaintTarget> pick_targets(const std::vector<bool>& members,
                                        const std::vector<int64_t>& ids, int64_t n_targets,
                                        uint64_t seed);

/// Runs the attack; errors (no ground truth, a model that does not fit the data, a group with no
/// targets) are diffmem::Errors naming the file or flag.
///
/// With several ranks (`comm`, an MPI job) every rank checks the inputs and reads the target cache
/// (OUT/targets/), then attacks the rounds of targets it owns (round c of the targets left on rank
/// c mod ranks) into that cache; rank 0 reads the others' results back and writes every file as
/// one process would. An error on any rank is thrown on every rank, naming the rank. The others
/// return the counts (computed: summed over the ranks).
InpaintRunResult run_inpaint(const InpaintRunOptions& options, const ProgressFn& progress = nullptr,
                             const dist::Communicator& comm = dist::single());

}  // namespace diffmem::attack
