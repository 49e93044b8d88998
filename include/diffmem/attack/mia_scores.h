#pragma once
// Per-example statistics of one model for membership inference (Carlini et al. §5.2 and the
// attacks that followed): an error per data row, lower = the model fits the example better = more
// likely a member. Every statistic runs through the Denoiser interface (native UNet2D or
// TorchScript), batched over many examples × draws per forward pass, and depends only on the model,
// the example and the options — not on the batch size (beyond the float rounding of the model's
// batch-shaped kernels) — so a target and its shadow models are measured identically and a cached
// score can be reused.
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffmem/attack/mia_options.h"
#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/json.h"
#include "diffmem/model/denoiser.h"

namespace diffmem::attack {

/// Throws diffmem::Error naming `where` and the field for a value the statistic cannot use
/// (t outside [0, T), draws < 1, batch < 1, ...). T is the schedule's num_train_timesteps.
void validate(const LossScoreOptions& o, int64_t T, const std::string& where);
void validate(const SecMiOptions& o, int64_t T, const std::string& where);
void validate(const PiaOptions& o, int64_t T, const std::string& where);

/// The `count` noise draws of the example with source id `id`: [count, C, H, W] f32 CPU, drawn
/// one [C,H,W] at a time from make_cpu_generator(core::derive_seed(seed, id)), so the first k of
/// 2k draws are the k draws. With flip, draws [0, draws) go with the image and [draws, 2·draws)
/// with its mirror.
torch::Tensor example_noise(uint64_t seed, int64_t id, int64_t count, int64_t channels,
                            int64_t height, int64_t width);

/// Per data row of `ds`, the loss mean((eps_θ(x_t, t) − eps)²) averaged over the draws (and
/// flips), in double, summed in draw order. Runs under NoGradGuard on denoiser.device(); the
/// denoiser must be in eval mode. Progress stage "mia", unit "examples".
std::vector<double> loss_errors(model::Denoiser& denoiser, const diffusion::NoiseSchedule& schedule,
                                const data::Dataset& ds, const LossScoreOptions& options,
                                const ProgressFn& progress = nullptr);

/// SecMI's t-error per data row (mean over flips when flip is set).
std::vector<double> secmi_errors(model::Denoiser& denoiser, const diffusion::NoiseSchedule& schedule,
                                 const data::Dataset& ds, const SecMiOptions& options,
                                 const ProgressFn& progress = nullptr);

/// PIA's error per data row (mean over flips when flip is set).
std::vector<double> pia_errors(model::Denoiser& denoiser, const diffusion::NoiseSchedule& schedule,
                               const data::Dataset& ds, const PiaOptions& options,
                               const ProgressFn& progress = nullptr);

/// One deterministic DDIM move of x from timestep `from` to `to` (either direction) given the
/// model's eps at `from`: sqrt(ab_to) · x0_pred + sqrt(1 − ab_to) · eps, with
/// x0_pred = (x − sqrt(1 − ab_from) · eps) / sqrt(ab_from). No clipping (SecMI does not clip).
torch::Tensor ddim_move(const diffusion::NoiseSchedule& schedule, const torch::Tensor& x,
                        const torch::Tensor& eps, int64_t from, int64_t to);

/// A per-example statistic as an object, so attacks (threshold, LiRA) and the score cache treat
/// loss, SecMI and PIA alike (DESIGN convention 3: one interface, one implementation each).
class ExampleScorer {
 public:
  virtual ~ExampleScorer() = default;
  /// "loss", "secmi" or "pia".
  virtual std::string name() const = 0;
  /// The options; together with the model and data they key the score cache.
  virtual io::Json options() const = 0;
  /// Model inputs evaluated per example (draws × flips × forward passes), for throughput figures.
  virtual int64_t forwards_per_example() const = 0;
  /// [N] over the rows of ds; lower = more member-like.
  virtual std::vector<double> errors(model::Denoiser& denoiser,
                                     const diffusion::NoiseSchedule& schedule,
                                     const data::Dataset& ds,
                                     const ProgressFn& progress = nullptr) const = 0;
  /// The same statistic at another timestep (t-sweeps); SecMI's t must stay a multiple of step.
  virtual std::unique_ptr<ExampleScorer> at_timestep(int64_t t) const = 0;
};

std::unique_ptr<ExampleScorer> make_loss_scorer(const LossScoreOptions& options);
std::unique_ptr<ExampleScorer> make_secmi_scorer(const SecMiOptions& options);
std::unique_ptr<ExampleScorer> make_pia_scorer(const PiaOptions& options);

}  // namespace diffmem::attack
