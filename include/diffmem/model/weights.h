#pragma once
// A module's parameters from and to safetensors by name, for every model diffmem opens (UNet2D,
// the CLIP text encoder, ...): strict about names, shapes, dtypes and finite values.
#include <torch/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "diffmem/io/safetensors.h"

namespace torch::nn {
class Module;
}

namespace diffmem::model {

/// Copies every parameter of `module` from `tensors` (same names), cast to f32. A missing,
/// unexpected or wrongly shaped tensor, a dtype other than F32/F16/BF16/F64, or a NaN/inf value is
/// a diffmem::Error naming `where` (the file) and the tensor; `what` names the model in it
/// ("only UNet2D parameters").
void load_weights(torch::nn::Module& module, const std::map<std::string, io::HostArray>& tensors,
                  const std::string& where, const std::string& what);

/// Weights by name as F32 safetensors with metadata {"format": "pt"}.
io::Safetensors weights_state(const std::map<std::string, torch::Tensor>& weights);

/// The files of one component folder of a pipeline (unet/, vae/, text_encoder/): `dir`/config.json,
/// and `dir`/NAME.safetensors or, when only that is there, NAME.fp16.safetensors (diffusers'
/// "fp16" variant). A missing config, no weights, or only pickled NAME.bin weights (never loaded)
/// is an error naming `dir`; `what` says what the folder should hold ("a VAE folder").
struct ComponentFiles {
  std::filesystem::path config, weights;
};
ComponentFiles component_files(const std::filesystem::path& dir, const std::string& name,
                               const std::string& what);

/// "'a'"; "a, b, c (and 7 more)": names in one-line messages.
std::string quote_name(const std::string& name);
std::string some_names(const std::vector<std::string>& names);

}  // namespace diffmem::model
