#pragma once
// Membership inference on a text-to-image pipeline folder trained on a captioned data set: per
// example, with its caption c and the null caption ∅, noise draws e_k (example_noise of its id) at
// timestep t on what the U-Net denoises (pixels, or the VAE's latents):
//   loss  L_c = mean_k |eps(x_t, t, c) − e_k|²            score −L_c
//   clid  L_∅ − L_c  (Zhai et al., "Membership Inference on Text-to-Image Diffusion Models via
//         Conditional Likelihood Discrepancy", NeurIPS 2024: a member's own caption lowers its loss
//         more than a non-member's does)                  score L_∅ − L_c
//   secmi SecMI's t-error (Duan et al. 2023) with the caption: a deterministic DDIM inversion of the
//         latent 0 → … → t − step → t and one step back; score −error
//   pia   PIA (Kong et al. 2024) with the caption: eps0 = eps(x0, 0, c) as the noise, error
//         mean |eps(x_t, t, c) − eps0|^p; score −error
//   lira  LiRA online and offline (mia_lira.h) fitted to L_c of shadow pipelines trained on known
//         halves of the data set (diffmem train --conditioning text --models K --split half):
//         lira-online, lira-offline
// Higher scores mean "more likely a member". Outputs as `diffmem mia` (mia_run.h): per attack
// OUT/<attack>/scores.csv, roc.csv, summary.json.
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/attack/mia_options.h"
#include "diffmem/attack/mia_run.h"
#include "diffmem/core/progress.h"
#include "diffmem/data/dataset.h"
#include "diffmem/dist/communicator.h"

namespace diffmem::diffusion {
class SdPipeline;
}

namespace diffmem::attack {

struct TextMiaErrors {
  std::vector<double> conditional;  // L_c per row
  std::vector<double> null;         // L_∅ per row
  int64_t unet_images = 0;          // U-Net evaluations of one latent
};

/// Both losses per row of the captioned ds, for the pipeline folder `model`.
TextMiaErrors text_mia_errors(const std::filesystem::path& model, const data::Dataset& ds, const TextMiaOptions& o,
                              const std::string& device = "cpu", const ProgressFn& progress = nullptr);

TextMiaErrors text_mia_errors(const diffusion::SdPipeline& pipe, const data::Dataset& ds, const TextMiaOptions& o,
                              const ProgressFn& progress = nullptr);

/// One deterministic statistic per row (SecMI's t-error or PIA's error, conditioned on the row's
/// caption) and the U-Net evaluations of one latent it cost.
struct TextRowErrors {
  std::vector<double> errors;
  int64_t unet_images = 0;
};

/// SecMI with o.secmi_t and o.secmi_step: secmi_t / secmi_step + 1 U-Net evaluations per row.
TextRowErrors text_secmi_errors(const diffusion::SdPipeline& pipe, const data::Dataset& ds, const TextMiaOptions& o,
                                const ProgressFn& progress = nullptr);
/// PIA with o.pia_t and o.pia_p: 2 U-Net evaluations per row.
TextRowErrors text_pia_errors(const diffusion::SdPipeline& pipe, const data::Dataset& ds, const TextMiaOptions& o,
                              const ProgressFn& progress = nullptr);

/// The pipeline folders (model_index.json) inside `dir`, sorted by name, leaving out `exclude`.
/// Throws naming `dir` when it is not a folder.
std::vector<std::filesystem::path> list_pipeline_folders(const std::filesystem::path& dir,
                                                         const std::filesystem::path& exclude = {});

/// attacks: a comma list of loss, clid, secmi, pia and lira (the loss is always run beside them). members:
/// the ground truth over ds. shadows: lira's folder of shadow pipeline folders, each with a
/// members.npy over ds. Errors name the flag or file: an unknown attack, lira without shadows, a
/// shadow without members.npy or of another length.
///
/// With several ranks (`comm`, an MPI job) the model work is split round robin in this order: the
/// target's two losses, its SecMI errors, its PIA errors, each shadow's loss; rank 0 gathers the
/// errors (bit for bit) and writes every file as one process would. The others return the counts.
MiaRunResult run_text_mia(const std::filesystem::path& model, const data::Dataset& ds, const std::vector<bool>& members,
                          const std::string& attacks, const TextMiaOptions& o, const std::filesystem::path& out,
                          const std::string& device = "cpu", const ProgressFn& progress = nullptr,
                          const std::filesystem::path& shadows = {},
                          const dist::Communicator& comm = dist::single());

}  // namespace diffmem::attack
