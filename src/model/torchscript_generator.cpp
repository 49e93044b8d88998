#include "diffmem/model/torchscript_generator.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/io/json.h"

namespace diffmem::model {
namespace fs = std::filesystem;

struct TorchScriptGenerator::Module {
  torch::jit::Module module;
};

void validate(const TorchScriptGeneratorConfig& c, const std::string& where) {
  for (auto [v, key] : {std::pair{c.z_dim, "z_dim"}, std::pair{c.height, "height"}, std::pair{c.width, "width"}})
    if (v < 1) fail(where, std::string(key) + " >= 1", std::to_string(v));
  if (c.channels != 1 && c.channels != 3) fail(where, "channels 1 or 3", std::to_string(c.channels));
  if (!std::isfinite(c.output_low) || !std::isfinite(c.output_high) || !(c.output_low < c.output_high))
    fail(where, "finite output_low < output_high (the range of the module's pixels)",
         std::to_string(c.output_low) + " and " + std::to_string(c.output_high));
  if (c.layout != "nchw" && c.layout != "nhwc") fail(where, "layout nchw or nhwc", "\"" + c.layout + "\"");
}

TorchScriptGenerator::TorchScriptGenerator(const fs::path& module, const fs::path& config, const torch::Device& device)
    : path_(module), device_(device) {
  if (!fs::is_regular_file(config))
    fail(config.string(), "the generator's JSON config (z_dim, height, width, channels, output range)", "no such file");
  config_ = io::read_options<TorchScriptGeneratorConfig>(io::read_json(config), config.string());
  validate(config_, config.string());
  if (!fs::is_regular_file(module)) fail(module.string(), "a TorchScript file", "no such file");
  module_ = std::make_unique<Module>();
  try {
    module_->module = torch::jit::load(module.string(), device);
  } catch (const c10::Error& e) {
    fail(module.string(), "a TorchScript file (torch.jit.save)",
         std::string("a file torch::jit::load rejects: ") + e.what_without_backtrace());
  }
  module_->module.eval();
  generate(torch::zeros({2, config_.z_dim}, torch::TensorOptions().device(device)));  // the probe
}

TorchScriptGenerator::~TorchScriptGenerator() = default;

torch::Tensor TorchScriptGenerator::generate(const torch::Tensor& z) {
  if (z.dim() != 2 || z.size(1) != config_.z_dim)
    fail(path_.string(), "latents [N," + std::to_string(config_.z_dim) + "]", c10::str(z.sizes()));
  torch::NoGradGuard no_grad;
  torch::jit::IValue out;
  try {
    out = module_->module.forward({z.to(device_, torch::kFloat32)});
  } catch (const c10::Error& e) {
    fail(path_.string(), "forward(z) to run on latents [N," + std::to_string(config_.z_dim) + "]",
         e.what_without_backtrace());
  }
  if (out.isTuple() && !out.toTupleRef().elements().empty()) out = out.toTupleRef().elements()[0];
  if (!out.isTensor()) fail(path_.string(), "forward(z) to return a tensor (or a tuple starting with one)", out.tagKind());
  torch::Tensor img = out.toTensor().to(torch::kFloat32);
  const bool nhwc = config_.layout == "nhwc";
  const std::vector<int64_t> want = nhwc ? std::vector<int64_t>{z.size(0), config_.height, config_.width, config_.channels}
                                         : std::vector<int64_t>{z.size(0), config_.channels, config_.height, config_.width};
  if (img.sizes() != c10::IntArrayRef(want))
    fail(path_.string(), "images " + c10::str(c10::IntArrayRef(want)) + " as its config says (" + config_.layout + ")",
         c10::str(img.sizes()));
  if (nhwc) img = img.permute({0, 3, 1, 2});
  const double scale = 2.0 / (config_.output_high - config_.output_low);
  return img.sub(config_.output_low).mul(scale).sub(1.0).clamp(-1.0, 1.0).contiguous();
}

std::string TorchScriptGenerator::describe() const { return "TorchScript generator " + path_.filename().string(); }

}  // namespace diffmem::model
