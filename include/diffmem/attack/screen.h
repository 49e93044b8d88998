#pragma once
// First-step memorization screens for text-to-image models: which prompts make the model
// reproduce a training image, read off the start of a few generations instead of hundreds of
// whole ones (the paper's generate-and-filter). Two detectors, both from SdPipeline::probe:
//   wen         Wen et al., "Detecting, Explaining, and Mitigating Memorization in Diffusion
//               Models" (ICLR 2024): the magnitude of the text-conditional noise prediction,
//               ||eps(x_t, prompt) - eps(x_t, "")||, averaged over the first steps and the seeds.
//   anisotropy  Asthana & Belagiannis, "Detecting and Mitigating Memorization in Diffusion Models
//               through Anisotropy of the Log-Probability" (ICLR 2026, arXiv 2601.20642): two
//               guided passes on the same initial noise, gamma_norm * the first-step norm above +
//               gamma_cosine * the alignment (cosine over channels) of the unconditional
//               prediction with the guidance direction at a low-noise timestep. diffmem measures
//               both on eps for every prediction type (the paper uses the score for v-models).
// Higher scores mean "more likely memorized" for both.
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/attack/screen_options.h"
#include "diffmem/core/progress.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/io/json.h"

namespace diffmem::diffusion {
class SdPipeline;
}

namespace diffmem::attack {

struct ScreenRow {
  int64_t index = 0;        // the prompt's row in the file (0-based)
  std::string id;           // its id (the file's id column, else the index: blackbox_prompts.h)
  std::string prompt;
  double wen = 0;           // mean over seeds and first steps of the norm
  double first_norm = 0;    // mean over seeds of the first step's norm
  double low_cosine = 0;    // mean over seeds of the low-noise alignment (NaN without that pass)
  double anisotropy = 0;    // gamma_norm * first_norm + gamma_cosine * low_cosine
  int label = -1;           // the file's 0/1, or -1
  int64_t duplicates = -1;  // the file's duplicates column (copies in training), or -1
};

struct ScreenResult {
  std::vector<ScreenRow> rows;  // in file order
  int64_t unet_images = 0;      // U-Net evaluations of one latent, in all
  double seconds = 0;
  io::Json summary;             // what summary.json holds
};

/// Scores every prompt of the prompts file (read as blackbox_prompts.h reads it) and writes, under
/// `out`: screen.csv (one row per prompt, highest wen first: rank, index, id, prompt, wen, anisotropy, first_norm, low_cosine, the label when given),
/// summary.json (cost; per detector AUC, TPR at 1% and 0.1% FPR when the file has both labels;
/// with a duplicates column also by_duplicates: per count of the positives, them against every negative)
/// and manifest.json (the options). Fails before loading the model on a bad prompts file or
/// option. `device`: cpu, cuda[:N] or auto (core/runtime.h).
///
/// An MPI job's ranks (`comm`) split the generations by the pipeline's batches (batch c on rank
/// c % size: each generation is measured in the batch one process would put it in, so the
/// numbers are the same bytes), every rank then holds every row of the result, and rank 0 alone
/// writes the files. Pass dist::single() for one process.
ScreenResult run_screen(const ScreenOptions& options, const std::filesystem::path& out,
                        const std::string& device = "cpu", const ProgressFn& progress = nullptr,
                        const dist::Communicator& comm = dist::single());
/// The same on a pipeline already loaded (options.model is only recorded).
ScreenResult run_screen(const ScreenOptions& options, const diffusion::SdPipeline& pipeline,
                        const std::filesystem::path& out, const ProgressFn& progress = nullptr,
                        const dist::Communicator& comm = dist::single());

}  // namespace diffmem::attack
