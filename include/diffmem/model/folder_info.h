#pragma once
// What a model folder holds, read from its files alone (no network is built, torch-free): for a
// diffusers pipeline folder (model_index.json) each component's class, weights file, dtypes,
// tensor and parameter counts; for a single model folder (config.json + weights) the same for it.
#include <filesystem>

#include "diffmem/io/json.h"

namespace diffmem::model {

/// {"folder", "class", "components": [{"name", "class", "weights", "dtypes", "tensors",
/// "parameters"} ...]}; a component without weights (tokenizer, scheduler) lists its files.
/// Throws diffmem::Error naming the folder when it is neither kind, or a file when it is corrupt.
io::Json describe_model_folder(const std::filesystem::path& dir);

}  // namespace diffmem::model
