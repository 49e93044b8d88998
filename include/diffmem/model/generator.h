#pragma once
// What sampling, the report and the audit see of a GAN: image = g(z). Beside the Denoiser
// (denoiser.h): `diffmem sample` draws image i's latent z from its own seed (seed + i) exactly as
// it draws a diffusion model's initial noise, so a generation is the same whatever batch or
// device made it. Implementations: diffmem's DCGAN (dcgan.h) and a TorchScript module
// (torchscript_generator.h), which is how StyleGAN2-ADA or BigGAN exported from PyTorch come in.
#include <torch/types.h>

#include <string>

namespace diffmem::model {

class Generator {
 public:
  virtual ~Generator() = default;
  /// z [N, z_dim()] f32 on device() -> images [N, channels(), height(), width()] f32 in [-1, 1].
  /// No gradients are kept.
  virtual torch::Tensor generate(const torch::Tensor& z) = 0;
  virtual int64_t z_dim() const = 0;
  virtual int64_t height() const = 0;
  virtual int64_t width() const = 0;
  virtual int64_t channels() const = 0;
  virtual torch::Device device() const = 0;
  /// For manifests and reports: "DCGAN 0.41M params (runs/gan)", "TorchScript generator g.pt".
  virtual std::string describe() const = 0;
};

}  // namespace diffmem::model
