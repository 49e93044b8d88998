#pragma once
// Membership inference on a text-to-image pipeline folder trained on a captioned data set: per
// example, with its caption c and the null caption ∅, noise draws e_k (example_noise of its id) at
// timestep t on what the U-Net denoises (pixels, or the VAE's latents):
//   loss  L_c = mean_k |eps(x_t, t, c) − e_k|²            score −L_c
//   clid  L_∅ − L_c  (Zhai et al., "Membership Inference on Text-to-Image Diffusion Models via
//         Conditional Likelihood Discrepancy", NeurIPS 2024: a member's own caption lowers its loss
//         more than a non-member's does)                  score L_∅ − L_c
// Higher scores mean "more likely a member". Outputs as `diffmem mia` (mia_run.h): per attack
// OUT/<attack>/scores.csv, roc.csv, summary.json.
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/attack/mia_options.h"
#include "diffmem/attack/mia_run.h"
#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"

namespace diffmem::attack {

struct TextMiaErrors {
  std::vector<double> conditional;  // L_c per row
  std::vector<double> null;         // L_∅ per row
  int64_t unet_images = 0;          // U-Net evaluations of one latent
};

/// Both losses per row of the captioned ds, for the pipeline folder `model`.
TextMiaErrors text_mia_errors(const std::filesystem::path& model, const data::Dataset& ds, const TextMiaOptions& o,
                              const std::string& device = "cpu", const ProgressFn& progress = nullptr);

/// attacks: "loss" or "clid" (CLiD, with the loss beside it). members: the ground truth over ds.
MiaRunResult run_text_mia(const std::filesystem::path& model, const data::Dataset& ds, const std::vector<bool>& members,
                          const std::string& attacks, const TextMiaOptions& o, const std::filesystem::path& out,
                          const std::string& device = "cpu", const ProgressFn& progress = nullptr);

}  // namespace diffmem::attack
