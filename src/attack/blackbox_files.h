#pragma once
// The files of a black-box run's groups (attack/blackbox_run.h): each group's cached result
// (groups/<name>.json), its grid and clique files when flagged, and the ranked CSVs. Internal to
// src/attack.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/attack/blackbox_run.h"
#include "diffmem/io/json.h"

namespace diffmem::attack::detail {

struct Loaded {
  torch::Tensor images;  // [N,H,W,C] u8, working size
  std::vector<std::string> labels;
  io::Json signature;    // what the cached result depends on
};

/// A folder or shards group's images at working size, and the signature its result depends on.
Loaded load_group(const BlackboxGroupInput& g, const BlackboxOptions& o);
/// What a generated group's result depends on (no image needed).
io::Json generated_signature(const BlackboxGroupInput& g, const BlackboxOptions& o);

io::Json analysis_json(const GroupAnalysis& a);
GroupAnalysis analysis_from_json(const io::Json& j);

/// Medoid, then up to `members` other clique members, then `train` when defined.
void write_grid(const std::filesystem::path& path, const torch::Tensor& images, const CliqueFinding& c,
                const torch::Tensor& train, int64_t members);
/// A flagged generated group's clique, medoid first, as [K,H,W,C] u8 (the images exist nowhere else).
void write_clique_npy(const std::filesystem::path& path, const torch::Tensor& images, const CliqueFinding& c);

/// prompts.csv's order: flagged first, then tightest clique, then largest, then id.
bool ranks_before(const BlackboxRow& a, const BlackboxRow& b);
/// prompts.csv and cliques.csv, rows in the order given.
void write_csvs(const std::filesystem::path& out, const std::vector<BlackboxRow>& rows);

}  // namespace diffmem::attack::detail
