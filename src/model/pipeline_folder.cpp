#include "diffmem/model/pipeline_folder.h"

#include "diffmem/io/json.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/model/weights.h"

namespace diffmem::model {
namespace fs = std::filesystem;

namespace {
const char* kDiffusersVersion = "0.42.1";  // the version diffmem's references were made with
}

void save_unet2d_condition(const UNet2DConditionConfig& config, const std::map<std::string, torch::Tensor>& weights,
                           const fs::path& dir) {
  fs::create_directories(dir);
  io::write_safetensors(dir / "diffusion_pytorch_model.safetensors", weights_state(weights));
  io::Json j = io::fields_json(config);
  j["_class_name"] = "UNet2DConditionModel";
  j["_diffusers_version"] = kDiffusersVersion;
  io::write_json(dir / "config.json", j);
}

void save_clip_text_model(const ClipTextConfig& config, const std::map<std::string, torch::Tensor>& weights,
                          const fs::path& dir) {
  fs::create_directories(dir);
  io::write_safetensors(dir / "model.safetensors", weights_state(weights));
  io::Json j = io::fields_json(config);
  j["architectures"] = {"CLIPTextModel"};
  j["model_type"] = "clip_text_model";
  j["torch_dtype"] = "float32";
  io::write_json(dir / "config.json", j);
}

void write_sd_model_index(const fs::path& dir, const std::string& scheduler_class, bool has_vae) {
  const io::Json none = {nullptr, nullptr};
  io::Json j = {{"_class_name", "StableDiffusionPipeline"},
                {"_diffusers_version", kDiffusersVersion},
                {"feature_extractor", none},
                {"image_encoder", none},
                {"requires_safety_checker", false},
                {"safety_checker", none},
                {"scheduler", {"diffusers", scheduler_class}},
                {"text_encoder", {"transformers", "CLIPTextModel"}},
                {"tokenizer", {"transformers", "CLIPTokenizer"}},
                {"unet", {"diffusers", "UNet2DConditionModel"}},
                {"vae", has_vae ? io::Json{"diffusers", "AutoencoderKL"} : none}};
  io::write_json(dir / "model_index.json", j);
}

}  // namespace diffmem::model
