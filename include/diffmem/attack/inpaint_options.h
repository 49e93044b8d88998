#pragma once
// The options of the inpainting attack (inpaint_attack.h), torch-free, with their field list
// (io/fields.h).
#include <cstdint>
#include <string>

#include "diffmem/diffusion/sample_options.h"
#include "diffmem/io/fields.h"

namespace diffmem::attack {

struct InpaintAttackOptions {
  std::string mask = "left";      // see inpaint_mask.h
  int64_t candidates = 16;        // completions per target (the paper: thousands)
  int64_t keep = 4;               // best-by-loss completions kept per target
  int64_t n_targets = 100;        // half members, half non-members
  uint64_t seed = 0;              // targets, candidate noise and ranking noise all derive from it
  int64_t rank_t = 100;           // timestep of the ranking loss
  int64_t rank_draws = 4;         // noise draws averaged per ranking loss
  diffusion::InpaintOptions inpaint;  // sampler, steps, resampling; inpaint.batch also batches
                                      // the ranking loss
};
DIFFMEM_FIELDS(InpaintAttackOptions, mask, candidates, keep, n_targets, seed, rank_t, rank_draws,
               inpaint)

void validate(const InpaintAttackOptions& o, int64_t T, const std::string& where);
/// The options that decide a target's result (everything but n_targets and batch).
io::Json result_key(const InpaintAttackOptions& o);

}  // namespace diffmem::attack
