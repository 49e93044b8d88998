#pragma once
// Internal to train/: what every trainer shares — batch plans, the resumable training state
// (raw weights, EMA, Adam moments, step) and the run record that refuses to mix two runs in one
// folder.
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "diffmem/core/error.h"
#include "diffmem/core/progress.h"
#include "diffmem/io/json.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/train/optimizer.h"
#include "diffmem/train/trainer.h"

namespace diffmem::train::detail {

/// A run's checkpoint file in its output folder (every trainer, diffusion and GAN alike).
inline constexpr const char* kStateFile = "training_state.safetensors";

/// Batch rows for a step: consecutive slices of per-epoch seeded permutations of `rows`.
class BatchPlan {
 public:
  BatchPlan(std::vector<int64_t> rows, int64_t batch, uint64_t seed)
      : rows_(std::move(rows)), batch_(batch), seed_(seed) {}
  std::vector<int64_t> rows_for(int64_t step);

 private:
  std::vector<int64_t> rows_;
  int64_t batch_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<int64_t> perm_;
};

NamedTensors named_params(torch::nn::Module& net);
std::map<std::string, torch::Tensor> as_map(const NamedTensors& t);

/// training_state.safetensors: model/<name>, ema/<name>, the Adam moments, metadata "step" and
/// "recent_losses" (the last losses, oldest first, as a JSON array: a resumed run reports the same
/// final loss as one never interrupted), and `extra` metadata entries (the fp16 loss scale).
void save_training_state(const std::filesystem::path& path, int64_t step, const NamedTensors& params,
                         const Ema& ema, const Adam& adam, const std::vector<double>& recent_losses = {},
                         const std::map<std::string, std::string>& extra = {});
/// A training state's metadata "step": a plain non-negative integer, else an error naming `path`.
int64_t state_step(const io::Safetensors& state, const std::filesystem::path& path);

/// Loads a state into params, ema and adam (and, when given, the recent losses: empty for a state
/// written before they were kept, and the whole metadata); returns its step. Errors name the file.
int64_t load_training_state(const std::filesystem::path& path, NamedTensors& params, Ema& ema, Adam& adam,
                            const torch::Device& device, std::vector<double>* recent_losses = nullptr,
                            std::map<std::string, std::string>* metadata = nullptr);

/// The mean of recent losses (0 when there are none): a run's final loss.
double mean_loss(const std::vector<double>& losses);

/// Adam with the options' learning rate, warmup and clipping.
AdamOptions adam_options(const TrainOptions& o);

/// The step a run in `out` resumes from: its training_state.safetensors loaded into params, ema
/// and adam when present (and logged), else 0.
int64_t resume(const std::filesystem::path& out, NamedTensors& params, Ema& ema, Adam& adam,
               const torch::Device& device, std::vector<double>* recent_losses = nullptr,
               std::map<std::string, std::string>* metadata = nullptr);

/// A training loop's bookkeeping: a non-finite loss refused naming the last good checkpoint, the
/// mean loss of the last 100 steps on the progress line, the checkpoint schedule, the figures of
/// the result.
class StepLog {
 public:
  StepLog(const ProgressFn& progress, const TrainOptions& o, int64_t start, std::filesystem::path out);
  /// Records step's loss (throws diffmem::Error when it is not finite); true when the step just
  /// done is to be checkpointed (every checkpoint_every steps, and the last).
  bool record(int64_t step, double loss);
  void checkpointed(int64_t done) { last_checkpoint_ = done; }
  /// steps_done, final_loss (the mean of the run's last 100 losses, a resume's restored ones
  /// included) and images_per_s of this invocation.
  void finish(TrainResult& result);
  /// The losses of the last (up to 100) steps, oldest first: what a checkpoint keeps, and what a
  /// resumed run restores before its first step, so its final loss is an uninterrupted run's.
  std::vector<double> recent_losses() const;
  void restore(const std::vector<double>& recent_losses);

 private:
  ProgressMeter meter_;
  const TrainOptions& o_;
  int64_t start_, last_checkpoint_;
  std::filesystem::path out_;
  std::vector<double> recent_;  // the last 100 losses, as a ring
  double recent_sum_ = 0;
  int64_t recorded_ = 0;
  double t0_;
};

/// data::save_members, kept out of this header's includes.
void save_members(const std::filesystem::path& out, const std::vector<bool>& members);

/// A rerun continues the run in `out` only when it is the same run: the options that must match
/// (all but steps, device, checkpoint_every) against out/`file` (read strictly, so a file from
/// before a field was added compares with its default); then writes the options and the members,
/// before any step. Options: TrainOptions (train_options.json), GanTrainOptions (gan_options.json).
template <typename Options>
void record_run(const std::filesystem::path& out, const char* file, const Options& o,
                const std::vector<bool>& members) {
  auto identity = [](const Options& t) {
    io::Json j = io::fields_json(t);
    for (const char* k : {"steps", "device", "checkpoint_every"}) j.erase(k);
    return j;
  };
  const std::filesystem::path opt_path = out / file;
  if (std::filesystem::exists(opt_path)) {
    const io::Json prev = identity(io::read_options<Options>(io::read_json(opt_path), opt_path.string()));
    if (prev != identity(o))
      fail(opt_path.string(), "the same training options as the run already in this folder " + prev.dump(),
           identity(o).dump() + " (use a new --out, or the same options to resume)");
  }
  io::write_json(opt_path, io::fields_json(o));
  if (!members.empty()) save_members(out, members);
}
/// Model k of K trained side by side (train_many, train_gan_many): its folder name model-NNN, its
/// seed derive_seed(seed, k) and, when split is "half", its seeded random half of the n rows
/// (mask and rows; both empty for "all").
struct ManyMember {
  std::string name;
  uint64_t seed = 0;
  std::vector<bool> mask;
  std::vector<int64_t> rows;
};
ManyMember many_member(int64_t k, uint64_t seed, const std::string& split, int64_t n);

/// `rows`, or every row of an n-row data set when it is empty.
std::vector<int64_t> rows_or_all(const std::vector<int64_t>& rows, int64_t n);

/// Which of a step's b images are flipped left-right: bool [b,1,1,1] on `device`, the step's own
/// draw (seed stream 1).
torch::Tensor flip_mask(int64_t b, uint64_t step_seed, const torch::Device& device);
/// Each image of x0 [B,C,H,W] flipped as flip_mask says.
torch::Tensor random_flips(const torch::Tensor& x0, uint64_t step_seed);

}  // namespace diffmem::train::detail
