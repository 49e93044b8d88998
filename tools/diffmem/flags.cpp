#include "flags.h"

#include "diffmem/core/error.h"

namespace diffmem::cli {

namespace flags {
const Flag kOut{"--out", "Output"};
const Flag kSeed{"--seed", "Seed"};
const Flag kSteps{"--steps", "Steps"};
const Flag kBatch{"--batch", "Batch size"};
const Flag kData{"--data", "Dataset directory (diffmem data import/subset)"};
const Flag kModel{"--model", "diffusers model folder"};
const Flag kSampler{"--sampler", "Sampler (ddpm | ddim)"};
const Flag kDelta{"--delta", "Extraction threshold (normalized l2; at or below it counts as extracted)"};
const Flag kDevice{"--device", "Device: cpu, cuda, cuda:N or auto"};
const Flag kThreads{"--threads", "CPU threads for tensor work (0 = all cores)"};
}  // namespace flags

std::string help_text(const Flag& f, const std::string& what) {
  return what.empty() ? std::string(f.help) : std::string(f.help) + ": " + what;
}

io::Json ConfigFlags::given() const {
  io::Json j = io::Json::object();
  for (const auto& [name, apply] : set_)
    if (app_->count(name) > 0) apply(j);
  return j;
}

io::Json ConfigFlags::over(io::Json base) const {
  io::overlay_json(base, given());
  return base;
}

io::Json read_config(const std::filesystem::path& path) {
  io::Json j = io::read_json(path);
  if (!j.is_object()) fail(path.string(), "a JSON object of options", j.type_name());
  return j;
}

}  // namespace diffmem::cli
