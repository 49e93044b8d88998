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
const Flag kDevice{"--device", "Device: cpu, cuda, cuda:N, cuda:local (under mpirun/srun: the rank's GPU on its machine) or auto"};
const Flag kThreads{"--threads", "CPU threads for tensor work (0 = all cores)"};
}  // namespace flags

std::string help_text(const Flag& f, const std::string& what) {
  return what.empty() ? std::string(f.help) : std::string(f.help) + ": " + what;
}

SetFlag::SetFlag(CLI::App* app, const std::vector<std::string>& keys) {
  std::string list;
  for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
  app->add_option("--set", assignments_,
                  "Set any option: KEY=VALUE (JSON value; repeatable). Keys: " + list);
}

io::Json SetFlag::json() const {
  io::Json j = io::Json::object();
  for (const std::string& a : assignments_) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) fail("--set", "KEY=VALUE", "'" + a + "'");
    std::string pointer = "/" + a.substr(0, eq);
    for (char& c : pointer)
      if (c == '.') c = '/';
    const std::string text = a.substr(eq + 1);
    io::Json value = io::Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) value = text;
    try {
      j[io::Json::json_pointer(pointer)] = value;
    } catch (const io::Json::exception&) {
      fail("--set", "a key path below an object", "'" + a.substr(0, eq) + "'");
    }
  }
  return j;
}

void ConfigFlags::add_set(const std::vector<std::string>& keys) {
  set_flag_ = std::make_unique<SetFlag>(app_, keys);
}

io::Json ConfigFlags::given() const {
  io::Json j = io::Json::object();
  for (const auto& [name, apply] : set_)
    if (app_->count(name) > 0) apply(j);
  if (set_flag_) io::overlay_json(j, set_flag_->json());
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
