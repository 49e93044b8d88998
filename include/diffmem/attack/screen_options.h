#pragma once
// The options of `diffmem screen` (attack/screen.h), torch-free, with their field list.
#include <cstdint>
#include <string>

#include "diffmem/diffusion/sd_options.h"
#include "diffmem/io/fields.h"

namespace diffmem::attack {

struct ScreenOptions {
  std::string model;                 // a Stable Diffusion pipeline folder
  std::string prompts;               // prompts file (data/prompts.h)
  std::string label = "memorized";   // ground-truth 0/1 column, used when the file has it
  int64_t per_prompt = 4;            // generations (seeds) measured per prompt
  uint64_t seed = 0;                 // generation j of prompt i: seed + i * per_prompt + j, as sample
  diffusion::SdPipelineOptions pipeline;  // the trajectory the generations would follow
  diffusion::SdProbeOptions probe;
  // Asthana & Belagiannis's combination weights (their SD-1 values): gamma_norm * first-step norm
  // + gamma_cosine * low-noise alignment.
  double gamma_norm = 1.0;
  double gamma_cosine = 2.0;
};
DIFFMEM_FIELDS(ScreenOptions, model, prompts, label, per_prompt, seed, pipeline, probe, gamma_norm,
               gamma_cosine)

/// Throws diffmem::Error naming the option on a value out of range.
void validate(const ScreenOptions& o);

}  // namespace diffmem::attack
