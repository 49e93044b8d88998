#pragma once
// A whole black-box run over many groups (prompts), and the files it leaves in `out`:
//   prompts.csv     one row per group, ranked: flagged first, then by mean in-clique distance
//                   (tightest first; groups whose largest clique is one image last), then id
//   cliques.csv     every reported clique (max_cliques > 1 reports several per group)
//   summary.json    options, counts, timings, the generator's tally, the flagged ids
//   flagged/<group>.png   medoid, then up to grid_members other clique members, then the
//                   training image when one was given (io::make_grid, 8 per row)
//   groups/<group>.json   each group's result, reused by a rerun when the options, the files
//                   and the training image are the same (resume)
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/attack/blackbox.h"
#include "diffmem/attack/blackbox_prompts.h"
#include "diffmem/attack/generator_runner.h"
#include "diffmem/core/progress.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/io/json.h"

namespace diffmem::attack {

/// One group to analyse: a folder of image files, or a folder of diffmem generation shards.
struct BlackboxGroupInput {
  std::string id;
  std::string prompt;
  std::filesystem::path train_image;  ///< empty = none
  int64_t duplicates = -1;            ///< -1 = unknown
  std::filesystem::path folder;       ///< image files (inputs 1 and 2)
  std::filesystem::path shards;       ///< or data/generations.h shards (input 3)
  /// The name of the group's files under out/ (group_folder_name(id) unless set).
  std::string name;
  /// Non-null: the images come from the run's GroupImageSource, and this says what they depend
  /// on (model, prompt, seeds, sampling options), so a cached result is reused without making them.
  io::Json generated;
  int label = -1;                     ///< ground truth (1 = memorized), -1 = unknown
};

/// A generated group's images: [N,H,W,C] u8 CPU, and a name per image.
struct GroupImages {
  torch::Tensor images;
  std::vector<std::string> labels;
};

/// Makes the images of generated groups (BlackboxGroupInput::generated) when run_blackbox needs
/// them, so a run over many prompts holds one group (or one batch of groups) at a time.
class GroupImageSource {
 public:
  virtual ~GroupImageSource() = default;
  /// groups[index]'s images. Asked in increasing index order, only for groups whose result is
  /// not reused; `upcoming` lists the later groups that will be asked for, so a source may make
  /// several groups in one batch.
  virtual GroupImages images(size_t index, const std::vector<size_t>& upcoming) = 0;
  /// What the source did (merged into summary.json as "generator"); null = nothing to say.
  virtual io::Json tally() const { return nullptr; }
  /// Adds another rank's tally() to this one's (an MPI job: rank 0 reports the job's).
  virtual void absorb(const io::Json& other_tally) { (void)other_tally; }
  /// How many groups one call makes together (from `upcoming`): an MPI job's ranks split the
  /// groups by these calls, so that each is made in the batch one process would make it in.
  virtual size_t groups_per_call() const { return 1; }
};

struct BlackboxRow {
  BlackboxGroupInput input;
  GroupAnalysis analysis;
  std::vector<std::string> labels;  ///< a name per image (file name, or "#index" for shards)
  std::filesystem::path grid_png;   ///< empty unless flagged
  bool reused = false;
};

struct BlackboxRunResult {
  std::vector<BlackboxRow> rows;  ///< ranked as in prompts.csv
  int64_t images = 0;
  int64_t flagged = 0;
  int64_t within_delta = 0;
  int64_t reused = 0;
  double seconds = 0;           ///< the whole analysis (reading, distances, cliques, writing)
  double analysis_seconds = 0;  ///< distances + cliques only, groups analysed in this run
};

/// Groups named by a prompts file; group i's images are in images_root/group_folder_name(id).
std::vector<BlackboxGroupInput> groups_from_prompts(const std::vector<PromptEntry>& prompts,
                                                    const std::filesystem::path& images_root);

/// One group per sub-folder of `root` (sorted; the folder name is the id, the prompt is empty).
std::vector<BlackboxGroupInput> groups_from_folder(const std::filesystem::path& root);

/// per_prompt generator tasks per prompt, seeds seed .. seed+per_prompt-1, each written to
/// images_root/<group folder>/<seed, 6+ digits>.png.
std::vector<GeneratorTask> generator_tasks(const std::vector<PromptEntry>& prompts,
                                           const std::filesystem::path& images_root,
                                           int64_t per_prompt, uint64_t seed);

/// Analyses every group and writes the files above into `out`. `extra` is merged into
/// summary.json (e.g. the generator's tally). Progress: stage "filter", unit "groups". `source`
/// makes the images of generated groups (required when any group is generated); a flagged
/// generated group also leaves flagged/<group>.npy (its clique's images, medoid first).
///
/// An MPI job's ranks (`comm`) split the groups to make and analyse (generated ones by the
/// source's calls, the others round robin; reused ones on rank 0), each writing its groups' files;
/// rank 0 gathers every rank's rows and generator tally, writes the CSVs and summary.json and
/// returns the whole result (the other ranks return their own rows only). The files are the
/// bytes one process writes, timings aside.
BlackboxRunResult run_blackbox(const std::vector<BlackboxGroupInput>& groups,
                               const std::filesystem::path& out, const BlackboxRunOptions& options,
                               const io::Json& extra = io::Json::object(),
                               const ProgressFn& progress = nullptr, GroupImageSource* source = nullptr,
                               const dist::Communicator& comm = dist::single());

}  // namespace diffmem::attack
