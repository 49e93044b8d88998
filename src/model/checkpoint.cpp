#include "diffmem/model/checkpoint.h"

#include <torch/torch.h>

#include <set>

#include "diffmem/core/error.h"
#include "diffmem/core/runtime.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/torchscript.h"
#include "diffmem/model/weights.h"

namespace diffmem::model {
namespace fs = std::filesystem;

namespace {

// "down_blocks.1.attentions.0.query.weight" → "down_blocks.1.attentions.0.to_q.weight"; "" if not
// legacy.
std::string legacy_to_new(const std::string& name) {
  static const std::pair<const char*, const char*> kRenames[] = {
      {"query", "to_q"}, {"key", "to_k"}, {"value", "to_v"}, {"proj_attn", "to_out.0"}};
  const size_t last = name.rfind('.');
  if (last == std::string::npos) return "";
  const std::string leaf = name.substr(last + 1);
  if (leaf != "weight" && leaf != "bias") return "";
  const size_t prev = name.rfind('.', last - 1);
  if (prev == std::string::npos) return "";
  const std::string module = name.substr(prev + 1, last - prev - 1);
  const std::string path = name.substr(0, prev);  // must end in "attentions.<index>"
  const size_t idx_dot = path.rfind('.');
  if (idx_dot == std::string::npos) return "";
  const std::string index = path.substr(idx_dot + 1);
  if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) return "";
  const std::string owner = path.substr(0, idx_dot);
  if (owner != "attentions" &&
      (owner.size() < 11 || owner.compare(owner.size() - 11, 11, ".attentions") != 0))
    return "";
  for (const auto& [old_name, new_name] : kRenames)
    if (module == old_name) return path + "." + new_name + "." + leaf;
  return "";
}

}  // namespace

DiffusersFiles find_diffusers_files(const fs::path& dir) {
  if (!fs::exists(dir)) fail(dir.string(), "a diffusers model folder", "nothing at that path");
  if (!fs::is_directory(dir))
    fail(dir.string(), "a diffusers model folder (config.json + " + std::string(kWeightsFile) + ")",
         "a file");
  bool pickle_only = false;
  for (const fs::path& d : {dir, dir / "unet"}) {
    DiffusersFiles f{d / kConfigFile, d / kWeightsFile};
    if (fs::is_regular_file(f.config) && fs::is_regular_file(f.weights)) return f;
    if (fs::is_regular_file(f.config) && fs::exists(d / "diffusion_pytorch_model.bin"))
      pickle_only = true;
  }
  if (pickle_only)
    fail(dir.string(), std::string(kWeightsFile) + " weights",
         "only pickled diffusion_pytorch_model.bin, which diffmem never loads (convert it with "
         "diffusers' save_pretrained(safe_serialization=True))");
  fail(dir.string(), std::string("config.json and ") + kWeightsFile + " in the folder or in unet/",
       "neither place holds both");
}

std::map<std::string, io::HostArray> rename_legacy_attention(
    std::map<std::string, io::HostArray> tensors, const std::string& where) {
  std::map<std::string, io::HostArray> out;
  std::set<std::string> renamed;
  for (auto& [name, array] : tensors) {
    std::string target = legacy_to_new(name);
    const bool legacy = !target.empty();
    if (!legacy) target = name;
    if (out.count(target) || (legacy && tensors.count(target)))
      fail(where + ": tensor " + quote_name(target),
           "one tensor under either the legacy or the new name",
           "both (" + name + " and " + target + ")");
    out.emplace(target, std::move(array));
  }
  return out;
}

void load_unet2d_weights(UNet2DImpl& model, const io::Safetensors& file, const std::string& where) {
  load_weights(model, rename_legacy_attention(file.tensors, where), where, "UNet2D");
}

io::Safetensors unet2d_state(const UNet2DImpl& model) {
  std::map<std::string, torch::Tensor> weights;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) weights.emplace(p.key(), p.value());
  return weights_state(weights);
}

UNet2D load_unet2d(const fs::path& dir, const torch::Device& device) {
  DiffusersFiles files = find_diffusers_files(dir);
  UNet2D model(read_unet2d_config(files.config));
  load_unet2d_weights(*model, io::read_safetensors(files.weights), files.weights.string());
  model->to(device);
  return model;
}

namespace {
void write_model_folder(const io::Safetensors& weights, const UNet2DConfig& config,
                        const fs::path& dir) {
  fs::create_directories(dir);
  // Weights first: config.json is what marks the folder as a model, so it lands last.
  io::write_safetensors(dir / kWeightsFile, weights);
  write_unet2d_config(dir / kConfigFile, config);
}
}  // namespace

void save_unet2d(const UNet2DImpl& model, const fs::path& dir) {
  write_model_folder(unet2d_state(model), model.config(), dir);
}

void save_unet2d(const UNet2DConfig& config, const std::map<std::string, torch::Tensor>& weights,
                 const fs::path& dir) {
  write_model_folder(weights_state(weights), config, dir);
}

std::unique_ptr<Denoiser> load_denoiser(const fs::path& path, const LoadDenoiserOptions& options) {
  const torch::Device device(core::resolve_device(options.device));
  if (options.format == "diffusers") {
    if (fs::is_regular_file(path))
      fail(path.string(),
           "a diffusers model folder (config.json + " + std::string(kWeightsFile) + ")",
           "a file (a TorchScript file needs format \"torchscript\")");
    UNet2D unet = load_unet2d(path, device);
    unet->eval();
    return std::make_unique<UNet2DDenoiser>(unet);
  }
  if (options.format == "torchscript")
    return std::make_unique<TorchScriptDenoiser>(path, device, options.in_channels,
                                                 options.sample_size);
  fail("model format", "\"diffusers\" or \"torchscript\"", "\"" + options.format + "\"");
}

}  // namespace diffmem::model
