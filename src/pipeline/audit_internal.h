#pragma once
// Pieces of pipeline/audit shared by its source files (private to the pipeline layer).
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/pipeline/audit.h"
#include "diffmem/attack/mia_run.h"
#include "diffmem/data/dataset.h"
#include "diffmem/dist/communicator.h"

namespace diffmem::pipeline::detail {

/// The rows `rows` of ds (images, labels, ids, members), manifest copied with shape and count set.
data::Dataset select_rows(const data::Dataset& ds, const std::vector<int64_t>& rows);

/// The built-in data set: members (with planted duplicates) first, then held-out non-members;
/// members.npy marks the former. `captions`: generated captions (seeded by `seed`) on every row.
data::Dataset builtin_dataset(const AuditDataOptions& o, bool captions, uint64_t seed, const ProgressFn& progress);

/// Whether the built-in data set gets captions (builtin.captions, auto = for a text-to-image audit).
bool builtin_captions(const AuditOptions& o);

/// The prompts file of a text-to-image audit: --prompts, else the data stage's prompts.csv.
std::filesystem::path prompts_file(const report::RunDir& paths, const AuditOptions& o);

/// The member rows of ds (which must have members.npy), its manifest's planted groups restricted
/// to the members.
data::Dataset member_dataset(const data::Dataset& ds);

/// What one stage needs to run.
struct StageContext {
  AuditOptions options;
  report::RunDir paths;
  std::string device;  // resolved once for every stage
  ProgressFn progress;
  const dist::Communicator* comm = &dist::single();  // an MPI job's ranks
};

/// One stage of the pipeline (DESIGN convention 3: one small interface, one implementation each).
class AuditStage {
 public:
  virtual ~AuditStage() = default;
  virtual std::string name() const = 0;
  /// What the stage's result depends on besides the stages before it.
  virtual io::Json key(const StageContext& c) const = 0;
  /// Paths inside the run that hold its outputs (removed when it must start afresh).
  virtual std::vector<std::filesystem::path> outputs(const StageContext& c) const = 0;
  /// Why the stage does not apply to this run (e.g. no non-members), or nullopt.
  virtual std::optional<std::string> not_applicable(const StageContext&) const { return std::nullopt; }
  /// Does the work; returns a one-line result (rank 0's is the one kept).
  virtual std::string run(const StageContext& c) const = 0;
  /// Whether every rank of an MPI job runs it (it splits its work by c.comm); otherwise rank 0
  /// runs it alone while the others wait.
  virtual bool splits() const { return false; }
};

/// The text-to-image pieces (audit_text_stages.cpp): the screen stage, and the blackbox stage's
/// key and run for a text-to-image model (generate-and-filter per prompt).
std::unique_ptr<AuditStage> make_screen_stage();
io::Json text_blackbox_key(const StageContext& c);
std::string run_text_blackbox(const StageContext& c);

/// The quality stage (audit_quality.cpp): FD/FID, KID, precision/recall of the generations
/// against the training images, when a feature net is named.
std::unique_ptr<AuditStage> make_quality_stage();

/// The GAN pieces (audit_gan.cpp), for target "gan": the train stage's key and run (the GAN on the
/// members), the sample stage's (its generations), and the discriminator's membership attack
/// against the ground truth in `truth_dir`.
io::Json gan_train_key(const StageContext& c);
std::string train_gan_target(const StageContext& c);
io::Json gan_sample_key(const StageContext& c);
std::string sample_gan(const StageContext& c);
attack::MiaAttackReport gan_mia(const StageContext& c, const std::filesystem::path& truth_dir);
/// Why the inpainting stage does not apply to a GAN.
extern const char* const kGanNoInpaint;

/// Of `ps`, the paths the audit may delete: only its own, never a --data or --model given to it.
std::vector<std::filesystem::path> owned(const StageContext& c, std::vector<std::filesystem::path> ps);

/// The stages in pipeline order (audit_stages() names them).
std::vector<std::unique_ptr<AuditStage>> make_audit_stages();

}  // namespace diffmem::pipeline::detail
