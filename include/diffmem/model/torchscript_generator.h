#pragma once
// A generator exported from PyTorch as TorchScript (torch.jit.save of a module whose forward(z)
// returns images), with a small JSON that says what the module cannot: how it is used.
//   {"z_dim": 512, "height": 32, "width": 32, "channels": 3,
//    "output_low": -1, "output_high": 1, "layout": "nchw"}
// This is how a user brings StyleGAN2-ADA or BigGAN (wrapped so that forward takes z alone, e.g.
// `lambda z: G(z, c=None, truncation_psi=1)`, then traced or scripted). Never a pickle.
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "diffmem/io/fields.h"
#include "diffmem/model/generator.h"

namespace diffmem::model {

struct TorchScriptGeneratorConfig {
  int64_t z_dim = 0;
  int64_t height = 0, width = 0, channels = 0;
  double output_low = -1, output_high = 1;  ///< the range forward's pixels span
  std::string layout = "nchw";              ///< nchw | nhwc
};
DIFFMEM_FIELDS(TorchScriptGeneratorConfig, z_dim, height, width, channels, output_low, output_high, layout)

/// Sizes >= 1, channels 1 or 3, output_low < output_high (both finite), layout nchw|nhwc; errors
/// name `where` and the key.
void validate(const TorchScriptGeneratorConfig& config, const std::string& where);

class TorchScriptGenerator : public Generator {
 public:
  /// Loads `module` onto `device` and reads `config` (strictly); then runs forward on two zero
  /// latents to check that the output has the shape the config gives, so a wrong config fails at
  /// load, not after an hour of sampling. Errors name the file.
  TorchScriptGenerator(const std::filesystem::path& module, const std::filesystem::path& config,
                       const torch::Device& device);
  ~TorchScriptGenerator() override;

  /// Maps the module's output range to [-1, 1] and its layout to NCHW.
  torch::Tensor generate(const torch::Tensor& z) override;
  int64_t z_dim() const override { return config_.z_dim; }
  int64_t height() const override { return config_.height; }
  int64_t width() const override { return config_.width; }
  int64_t channels() const override { return config_.channels; }
  torch::Device device() const override { return device_; }
  std::string describe() const override;  // "TorchScript generator g.pt"

 private:
  struct Module;  // torch::jit::Module, kept out of this header
  std::unique_ptr<Module> module_;
  std::filesystem::path path_;
  TorchScriptGeneratorConfig config_;
  torch::Device device_;
};

}  // namespace diffmem::model
