#pragma once
// DDPM training (noise-prediction MSE at uniform t, Adam with warmup, gradient clipping, EMA,
// random horizontal flips) that checkpoints and resumes.
//
// A model folder as training leaves it:
//   config.json, diffusion_pytorch_model.safetensors (EMA weights), scheduler_config.json
//                       — a diffusers folder: UNet2DModel.from_pretrained opens it
//   members.npy         bool [N] over the data set: the images this model was trained on
//   train_options.json  the options, so the run can be repeated
//   training_state.safetensors  raw weights, EMA, Adam moments; metadata "step"
// Every random choice of step s derives from (seed, s) alone, so a run killed and resumed from its
// last checkpoint ends with the same weights as an uninterrupted one (same thread count).
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/json.h"
#include "diffmem/train/train_options.h"

namespace diffmem::train {

struct TrainResult {
  std::filesystem::path model_dir;
  int64_t start_step = 0;     // > 0 when resumed
  int64_t steps_done = 0;     // == options.steps when finished
  double final_loss = 0.0;    // mean loss over the last logged window
  double images_per_s = 0.0;  // this invocation only
  bool already_done = false;  // the folder was complete; nothing was trained
  int64_t parameters = 0;
};

/// Trains one model on the rows `rows` of `ds` (all rows when empty) into `out`.
/// `members` (bool over ds, may be empty) is written as members.npy.
TrainResult train_model(const data::Dataset& ds, const std::vector<int64_t>& rows,
                        const std::vector<bool>& members, const std::filesystem::path& out,
                        const TrainOptions& options, const ProgressFn& progress = nullptr);

/// Trains on the data set's members when it has a split (members.npy), else on every row; the
/// model folder records the members.
TrainResult train_on_members(const data::Dataset& ds, const std::filesystem::path& out,
                             const TrainOptions& options, const ProgressFn& progress = nullptr);

/// Trains K models into out/model-000, model-001, ... each with its members.npy (LiRA's shadow
/// models). Model k uses seed derive_seed(options.seed, k) for its half and its training. Of an
/// MPI job's ranks (many.rank, many.ranks) each trains the models it owns; the results of the
/// others' are left default (empty model_dir).
std::vector<TrainResult> train_many(const data::Dataset& ds, const std::filesystem::path& out,
                                    const TrainOptions& options, const ManyOptions& many,
                                    const ProgressFn& progress = nullptr);

/// The seeded half used by train_many for model k: a bool mask over n rows with n/2 true.
std::vector<bool> random_half(int64_t n, uint64_t seed);

}  // namespace diffmem::train
