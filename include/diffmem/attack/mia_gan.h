#pragma once
// Membership inference against a GAN, by its discriminator: a member's image is one the
// discriminator was trained to call real, so its logit D(x) is the score (higher = member; with
// `flip`, the mean over the image and its mirror, as a GAN trained on flips saw both). This is a
// different attack from the diffusion losses — it needs the discriminator, which a released GAN
// rarely ships — and is reported under its own name, "gan-discriminator".
//
// Writes OUT/split-check.json and OUT/gan-discriminator/{scores.csv, roc.csv, roc_band.csv,
// summary.json} as `diffmem mia` does for diffusion models (mia_run.h).
#include <cstdint>
#include <filesystem>
#include <string>

#include "diffmem/attack/mia_run.h"
#include "diffmem/core/progress.h"
#include "diffmem/metrics/bootstrap.h"

namespace diffmem::attack {

struct GanMiaOptions {
  std::filesystem::path data;     ///< the data set the GAN's members.npy indexes
  std::filesystem::path target;   ///< a GAN folder (model/dcgan.h) with discriminator.safetensors
  std::filesystem::path members;  ///< ground truth: members.npy or its folder; empty = the target's
  std::filesystem::path out;
  bool flip = false;
  int64_t batch = 256;
  std::string device = "cpu";
  metrics::BootstrapOptions bootstrap;
  double calibrate_on = 0;
  bool split_check = true;
};

/// Errors (not a GAN folder, no discriminator, images of another shape, a mask without members or
/// non-members) name the file or flag, before any image is scored.
MiaAttackReport run_gan_mia(const GanMiaOptions& options, const ProgressFn& progress = nullptr);

}  // namespace diffmem::attack
