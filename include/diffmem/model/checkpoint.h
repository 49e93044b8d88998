#pragma once
// diffusers model folders: config.json + diffusion_pytorch_model.safetensors, in the folder itself
// or in its unet/ subfolder (a pipeline folder). What diffmem saves, diffusers' UNet2DModel.
// from_pretrained opens; what diffusers saves (including legacy attention names query / key /
// value / proj_attn, and F16 / BF16 weights), diffmem opens. Pickled .bin weights are refused.
#include <torch/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "diffmem/io/safetensors.h"
#include "diffmem/model/denoiser.h"
#include "diffmem/model/load_options.h"
#include "diffmem/model/unet2d.h"

namespace diffmem::model {

inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kWeightsFile = "diffusion_pytorch_model.safetensors";

/// The two files of a diffusers model folder.
struct DiffusersFiles {
  std::filesystem::path config;   // .../config.json
  std::filesystem::path weights;  // .../diffusion_pytorch_model.safetensors
};

/// Finds the files in `dir` or `dir/unet`; throws diffmem::Error naming `dir` when neither holds
/// both (and says so when only pickled diffusion_pytorch_model.bin weights are there).
DiffusersFiles find_diffusers_files(const std::filesystem::path& dir);

/// The legacy attention names diffusers still accepts, renamed (…attentions.N.query.weight →
/// …attentions.N.to_q.weight; key → to_k, value → to_v, proj_attn → to_out.0). Other names pass
/// through. Throws naming `where` when a legacy and a new name land on the same tensor.
std::map<std::string, io::HostArray> rename_legacy_attention(
    std::map<std::string, io::HostArray> tensors, const std::string& where);

/// Copies every parameter from `file` (after legacy renaming) into `model`. Strict: a missing,
/// unexpected or wrongly shaped tensor, a dtype other than F32/F16/BF16/F64, or a NaN/inf value is
/// a diffmem::Error naming `where` (the file) and the tensor. Values are cast to f32.
void load_unet2d_weights(UNet2DImpl& model, const io::Safetensors& file, const std::string& where);

/// The model's parameters as F32 tensors by diffusers name, with metadata {"format": "pt"}.
io::Safetensors unet2d_state(const UNet2DImpl& model);

/// Reads config.json and the weights from a diffusers folder (see find_diffusers_files) onto
/// `device`.
UNet2D load_unet2d(const std::filesystem::path& dir, const torch::Device& device = torch::kCPU);

/// Writes `dir`/diffusion_pytorch_model.safetensors and then `dir`/config.json, each through a
/// temporary file and a rename (creating `dir`): a folder with a config.json is always complete.
void save_unet2d(const UNet2DImpl& model, const std::filesystem::path& dir);

/// The same folder from a config and weights by diffusers name (e.g. a trainer's EMA weights),
/// without building a module: building one draws its initial weights from torch's global
/// generator, which models trained side by side share.
void save_unet2d(const UNet2DConfig& config, const std::map<std::string, torch::Tensor>& weights,
                 const std::filesystem::path& dir);

/// A Denoiser for the model at `path`, in eval mode on the requested device.
std::unique_ptr<Denoiser> load_denoiser(const std::filesystem::path& path,
                                        const LoadDenoiserOptions& options = {});

}  // namespace diffmem::model
