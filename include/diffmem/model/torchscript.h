#pragma once
// A TorchScript model (torch.jit.save) as a Denoiser: forward(x, t) with x [N,C,H,W] f32 and
// t [N] i64. The output may be a tensor, a tuple/list whose first element is the tensor, or a dict
// with a "sample" entry (a traced diffusers model with return_dict=False gives a tuple).
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "diffmem/model/denoiser.h"

namespace diffmem::model {

class TorchScriptDenoiser : public Denoiser {
 public:
  /// Loads `path` onto `device` and puts it in eval mode. The module cannot say what it expects,
  /// so the caller gives in_channels and sample_size (both ≥ 1). Errors name the file.
  TorchScriptDenoiser(const std::filesystem::path& path, const torch::Device& device,
                      int64_t in_channels, int64_t sample_size);
  ~TorchScriptDenoiser() override;

  torch::Tensor predict_noise(const torch::Tensor& x, const torch::Tensor& t) override;
  int64_t in_channels() const override { return in_channels_; }
  int64_t sample_size() const override { return sample_size_; }
  torch::Device device() const override { return device_; }
  std::string describe() const override;  // "TorchScript model.pt"

 private:
  struct Module;  // torch::jit::Module, kept out of this header
  std::unique_ptr<Module> module_;
  std::filesystem::path path_;
  torch::Device device_;
  int64_t in_channels_, sample_size_;
};

}  // namespace diffmem::model
