#pragma once
// Generate-and-filter on a text-to-image model diffmem runs itself (Carlini et al. §4.2, their
// Stable Diffusion attack): per_prompt generations of each prompt, made by SdPipeline in batches
// that span prompts and handed as uint8 straight to the clique filter (blackbox_run.h). No image
// file is written for a group that is not flagged; a flagged group keeps its clique
// (flagged/<group>.npy, medoid first) and its grid (flagged/<group>.png).
//
// With a screen in front (screen_top / screen_threshold), `diffmem screen`'s detectors (screen.h)
// score every prompt first and only the prompts they flag are generated; the screen's files are
// in out/screen/. summary.json adds to run_blackbox's:
//   "text_to_image"  the options
//   "cost"           U-Net evaluations of one latent spent by the screen and by generation in this
//                    run, what generating per_prompt images of every prompt costs, and the ratio
//   "screen"         the detector, the selection and its ROC figures (labels given)
//   "extraction"     over every prompt in the file (a prompt not generated counts as not
//                    flagged): with a ground-truth column, precision and recall of the flagged
//                    prompts; with training images, the flagged prompts whose clique's medoid is
//                    within delta of the prompt's own image ("extracted"); per duplicates count
//                    when the file gives them
// Resume: a rerun reuses every group whose result exists for the same model files, prompt, seeds
// and options, without generating it (the screen is rerun: it is cheap by design).
#include <filesystem>
#include <string>

#include "diffmem/attack/blackbox_options.h"
#include "diffmem/attack/blackbox_run.h"
#include "diffmem/core/progress.h"
#include "diffmem/io/json.h"

namespace diffmem::attack {

struct TextToImageBlackboxResult {
  BlackboxRunResult run;
  int64_t prompts = 0;                 ///< in the file
  int64_t selected = 0;                ///< generated (or reused) and filtered
  int64_t screen_unet_images = 0;
  int64_t generation_unet_images = 0;  ///< generated in this run (reused groups cost none)
  int64_t unscreened_unet_images = 0;  ///< per_prompt images of every prompt
  io::Json summary;                    ///< what summary.json holds
};

/// Checks the options and the prompts file before loading the model; then screens (when asked),
/// generates and filters. `device`: cpu, cuda[:N] or auto (core/runtime.h). An MPI job's ranks
/// (`comm`) split the screen (screen.h) and the groups (blackbox_run.h); rank 0 writes the files
/// and holds the whole result.
TextToImageBlackboxResult run_blackbox_text_to_image(const TextToImageBlackboxOptions& options,
                                                     const std::filesystem::path& out,
                                                     const std::string& device = "cpu",
                                                     const ProgressFn& progress = nullptr,
                                                     const dist::Communicator& comm = dist::single());

}  // namespace diffmem::attack
