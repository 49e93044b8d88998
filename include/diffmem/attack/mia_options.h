#pragma once
// The options of the membership-inference statistics (mia_scores.h), torch-free, with their
// field lists (io/fields.h).
#include <cstdint>
#include <string>

#include "diffmem/io/fields.h"

namespace diffmem::attack {

/// The denoising loss at timestep t (the paper's attack statistic).
struct LossScoreOptions {
  int64_t t = 100;        // the paper's choice; 50–300 all work
  int64_t draws = 20;     // noise draws averaged per example (and per flip)
  bool flip = false;      // also score the horizontally flipped image (with its own draws)
  uint64_t seed = 0;      // example e's noise comes from derive_seed(seed, ids[e]) alone
  int64_t batch = 256;    // model inputs per forward pass; changes no score beyond float rounding
};

/// Deterministic DDIM round trip (Duan et al. 2023, SecMI "t-error", as in their code): invert
/// x0 deterministically 0 → step → … → t − step, take one more inversion step to t, one
/// deterministic denoising step back to t − step, and measure the mean squared distance between
/// the two points at t − step. Needs t / step + 1 forward passes per image.
struct SecMiOptions {
  int64_t t = 100;      // t_sec; a multiple of step, ≥ step
  int64_t step = 10;    // the DDIM interval k
  bool flip = false;
  int64_t batch = 256;
};

/// Proximal initialization (Kong et al. 2024, PIA): eps0 = eps_θ(x0, 0) serves as the noise;
/// x_t = sqrt(ab_t) x0 + sqrt(1 − ab_t) eps0; error = mean |eps_θ(x_t, t) − eps0|^p.
/// Two forward passes per image.
struct PiaOptions {
  int64_t t = 200;     // the paper's DDPM setting
  int64_t p = 4;       // ℓ4 in the paper (2 for ℓ2); the error is the p-th power, averaged
  bool flip = false;
  int64_t batch = 256;
};

/// Text-to-image models (mia_text.h): the denoising loss at t with the example's caption, and the
/// conditional-likelihood discrepancy (CLiD, Zhai et al. 2024): the loss with a null caption minus
/// the loss with the example's own, on the same noise.
struct TextMiaOptions {
  int64_t t = 100;
  int64_t draws = 8;          // noise draws per example, shared by both conditions
  uint64_t seed = 0;          // example e's noise comes from derive_seed(seed, ids[e]) alone
  int64_t batch = 64;         // model inputs per forward pass
  std::string null_caption;   // CLiD's other condition ("" = unconditional)
  // LiRA (with shadow pipelines): the transform of the caption-conditioned loss the Gaussians are
  // fitted to (logit | raw, mia_lira.h) and the variance model.
  std::string lira_statistic = "logit";
  bool lira_global_variance = false;
  // SecMI and PIA in the U-Net's space (latents, or pixels), conditioned on the caption, as
  // SecMiOptions and PiaOptions above; their batch is `batch`.
  int64_t secmi_t = 100;
  int64_t secmi_step = 10;
  int64_t pia_t = 200;
  int64_t pia_p = 4;
};

DIFFMEM_FIELDS(LossScoreOptions, t, draws, flip, seed, batch)
DIFFMEM_FIELDS(TextMiaOptions, t, draws, seed, batch, null_caption, lira_statistic, lira_global_variance, secmi_t,
               secmi_step, pia_t, pia_p)
DIFFMEM_FIELDS(SecMiOptions, t, step, flip, batch)
DIFFMEM_FIELDS(PiaOptions, t, p, flip, batch)

}  // namespace diffmem::attack
