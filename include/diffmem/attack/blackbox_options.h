#pragma once
// The options of the black-box filter (blackbox.h) and of its run over groups (blackbox_run.h),
// torch-free, with their field lists (io/fields.h). The filter's `device` is where it computes,
// never part of a result, so it is not a field (group caches stay valid across devices).
#include <cstdint>
#include <optional>
#include <string>

#include "diffmem/diffusion/sd_options.h"

#include "diffmem/io/fields.h"
#include "diffmem/search/search_options.h"

namespace diffmem::attack {

struct BlackboxOptions {
  int64_t size = 0;               ///< working size (square); 0 = the group's first image's H×W
  search::TiledOptions tiles;     ///< 4×4 same-position tiles, max (paper)
  double edge_threshold = 0.15;   ///< tiled ℓ2 at or below which two generations are connected
  int64_t min_clique = 10;        ///< a clique this large flags the group (paper: 10 of 500)
  double delta = 0.15;            ///< normalized ℓ2 at or below which the training image is extracted
  int64_t max_cliques = 1;        ///< cliques reported per group, largest first; 0 = every one >= min_clique
  int64_t tie_limit = 64;         ///< maximum cliques compared to pick the tightest among equals
  std::string device = "cpu";     ///< where the distances are computed ("cpu", "cuda", ...)
};

DIFFMEM_VISIT_FIELDS(BlackboxOptions) {
  v("size", o.size);
  v("tiles", o.tiles);
  v("edge_threshold", o.edge_threshold);
  v("min_clique", o.min_clique);
  v("delta", o.delta);
  v("max_cliques", o.max_cliques);
  v("tie_limit", o.tie_limit);
  v.note("resize_filter", "stb_image_resize default (Mitchell shrinking, Catmull-Rom growing)");
  v.note("distance", "tiled normalized l2, max over same-position tiles");
}

/// Throws diffmem::Error naming the option on a value out of range.
void validate(const BlackboxOptions& o);

struct BlackboxRunOptions {
  BlackboxOptions analysis;
  int64_t grid_members = 15;  ///< clique members shown beside the medoid in each PNG
  bool reuse = true;          ///< reuse out/groups/<group>.json when nothing changed
  bool read_ahead = true;     ///< read the next folder group's files while this one is filtered
};

DIFFMEM_FIELDS(BlackboxRunOptions, analysis, grid_members, reuse, read_ahead)

/// Generate-and-filter on a text-to-image pipeline folder (blackbox_text_to_image.h), optionally
/// behind a first-step screen (screen.h) that picks the prompts worth 500 generations.
struct TextToImageBlackboxOptions {
  std::string model;                 // a Stable Diffusion pipeline folder
  std::string prompts;               // prompts file (blackbox_prompts.h)
  std::string label = "memorized";   // ground-truth 0/1 column, used when the file has it
  int64_t per_prompt = 500;          // generations per prompt (paper: 500)
  uint64_t seed = 0;                 // generation j of prompt row i: seed + i * per_prompt + j
  std::string negative_prompt;       // the same for every image ("" = unconditional)
  diffusion::SdPipelineOptions pipeline;
  // The screen: generate only for the screen_top prompts it ranks highest and/or those scoring at
  // least screen_threshold; neither set = every prompt, no screen.
  int64_t screen_top = 0;
  std::optional<double> screen_threshold;
  std::string screen_detector = "wen";  // wen | anisotropy
  int64_t screen_per_prompt = 4;        // the screen's generations (seeds) per prompt
  diffusion::SdProbeOptions probe;
  BlackboxRunOptions run;
};
DIFFMEM_FIELDS(TextToImageBlackboxOptions, model, prompts, label, per_prompt, seed, negative_prompt, pipeline,
               screen_top, screen_threshold, screen_detector, screen_per_prompt, probe, run)

/// Throws diffmem::Error naming the option on a value out of range.
void validate(const TextToImageBlackboxOptions& o);

}  // namespace diffmem::attack
