#pragma once
// diffusers' AutoencoderKL (Stable Diffusion's VAE): Encoder (conv_in, DownEncoderBlock2D ×n,
// UNetMidBlock2D with one-head attention, GroupNorm, SiLU, conv_out to 2 × latent channels),
// quant_conv, post_quant_conv and the mirrored Decoder (UpDecoderBlock2D ×n). Parameter names as
// diffusers', so vae/diffusion_pytorch_model.safetensors loads directly (legacy attention names
// query/key/value/proj_attn included).
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <optional>

#include "diffmem/io/safetensors.h"
#include "diffmem/model/autoencoder_kl_config.h"

namespace diffmem::model {

/// The posterior of the encoder: a diagonal Gaussian (logvar clamped to [-30, 20] as diffusers').
struct LatentDistribution {
  torch::Tensor mean;    ///< [B,latent,h,w]
  torch::Tensor logvar;  ///< [B,latent,h,w]
  torch::Tensor std() const { return torch::exp(0.5 * logvar); }
  /// mean + std · noise, noise from `generator` as diffusers' latent_dist.sample(generator) draws
  /// it (one randn of the whole shape on the generator's device, CPU here).
  torch::Tensor sample(torch::Generator generator) const;
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(const AutoencoderKLConfig& config);
  /// images [B,in,H,W] f32 in [-1,1] -> the posterior (H, W divisible by 2^(levels-1)).
  LatentDistribution encode(const torch::Tensor& images);
  /// z [B,latent,h,w] (unscaled: latents / scaling_factor) -> images [B,out,H,W], not clamped.
  torch::Tensor decode(const torch::Tensor& z);
  const AutoencoderKLConfig& config() const { return config_; }

 private:
  AutoencoderKLConfig config_;
  std::shared_ptr<torch::nn::Module> encoder, decoder;
  torch::nn::Conv2d enc_conv_in{nullptr}, enc_conv_out{nullptr}, dec_conv_in{nullptr},
      dec_conv_out{nullptr}, quant_conv{nullptr}, post_quant_conv{nullptr};
  torch::nn::GroupNorm enc_norm_out{nullptr}, dec_norm_out{nullptr};
  torch::nn::ModuleList down_blocks{nullptr}, up_blocks{nullptr};
  std::shared_ptr<torch::nn::Module> enc_mid, dec_mid;
};
TORCH_MODULE(AutoencoderKL);

/// Copies weights by diffusers name (legacy attention names renamed); strict as load_weights.
void load_autoencoder_kl_weights(AutoencoderKLImpl& model, const io::Safetensors& file,
                                 const std::string& where);

/// A vae/ folder: config.json + diffusion_pytorch_model.safetensors (or its .fp16 variant).
AutoencoderKL load_autoencoder_kl(const std::filesystem::path& dir,
                                  const torch::Device& device = torch::kCPU);

}  // namespace diffmem::model
