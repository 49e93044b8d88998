#pragma once
// GAN training (model/dcgan.h), the recipe: the non-saturating logistic loss, R1 gradient penalty
// on real images (gamma/2 · E‖∇D(x)‖², applied lazily as StyleGAN2 does: every r1_every-th step,
// scaled by r1_every, since the double backward is about a quarter of a step's cost), Adam (beta1 0.5, beta2 0.99) for both networks,
// one discriminator step then one generator step per batch, an EMA of the generator (diffusers'
// warm-up, as the diffusion trainer's) that is what the folder ships, random horizontal flips of
// the real images. Resumable as the diffusion trainer is: every random draw of step s (the batch,
// its flips, both latents) derives from (seed, s) alone, so a run killed and resumed from its last
// checkpoint ends with the same bytes as an unbroken one (same thread count).
//
// The folder it leaves: the GAN folder of model/dcgan.h, plus gan_options.json (the run's options),
// members.npy (bool over the data set: the images it trained on) and training_state.safetensors
// (raw weights, EMA, both Adams' moments; metadata "step"). A rerun with more --steps continues.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"
#include "diffmem/io/fields.h"

namespace diffmem::train {

struct GanTrainOptions {
  int64_t z_dim = 64;
  int64_t base_width = 32;
  int64_t steps = 4000;
  int64_t batch = 64;
  double lr = 2e-4;
  double beta1 = 0.5;
  double beta2 = 0.99;
  double r1_gamma = 0.1;           ///< 0: no penalty
  int64_t r1_every = 4;            ///< the penalty on every r1_every-th step (1: every step)
  double ema_decay = 0.999;
  bool flip = true;
  int64_t checkpoint_every = 500;  ///< steps; the end is always checkpointed
  uint64_t seed = 0;
  std::string device = "cpu";      ///< cpu | cuda[:N] | auto
};
/// gan_options.json.
DIFFMEM_FIELDS(GanTrainOptions, z_dim, base_width, steps, batch, lr, beta1, beta2, r1_gamma, r1_every, ema_decay,
               flip, checkpoint_every, seed, device)

/// Each value in its range, errors naming `where` and the key: z_dim, base_width, steps, batch,
/// r1_every >= 1;
/// lr > 0; betas and ema_decay in [0, 1); r1_gamma >= 0; checkpoint_every >= 0.
void validate(const GanTrainOptions& options, const std::string& where);

struct GanTrainResult {
  std::filesystem::path model_dir;
  int64_t start_step = 0;  ///< > 0 when resumed
  int64_t steps_done = 0;
  bool already_done = false;
  double d_loss = 0, g_loss = 0;  ///< means over the last (up to 100) steps of this invocation
  double images_per_s = 0;        ///< this invocation
  int64_t parameters = 0;         ///< generator + discriminator
};

/// Trains one GAN on rows `rows` of `ds` (every row when empty) into `out`; `members` (bool over
/// ds, may be empty) is written as members.npy. A folder holding another run (other options but
/// steps, device, checkpoint_every) is refused before any step.
GanTrainResult train_gan(const data::Dataset& ds, const std::vector<int64_t>& rows, const std::vector<bool>& members,
                         const std::filesystem::path& out, const GanTrainOptions& options,
                         const ProgressFn& progress = nullptr);

/// On the data set's members when it has a split (members.npy), else on every row.
GanTrainResult train_gan_on_members(const data::Dataset& ds, const std::filesystem::path& out,
                                    const GanTrainOptions& options, const ProgressFn& progress = nullptr);

/// K GANs into out/model-000, ... as train_many (train/trainer.h) lays out diffusion models: model k
/// seeded derive_seed(seed, k), on its own seeded random half when split is "half", else on all rows.
/// Of an MPI job's ranks, this process trains the models k with k % ranks == rank; the result of
/// another rank's model is left empty (model_dir empty).
std::vector<GanTrainResult> train_gan_many(const data::Dataset& ds, const std::filesystem::path& out,
                                           const GanTrainOptions& options, int64_t models, const std::string& split,
                                           const ProgressFn& progress = nullptr, int64_t rank = 0, int64_t ranks = 1);

}  // namespace diffmem::train
