#pragma once
// diffmem's GAN: a DCGAN-class generator and discriminator small enough to train on 2 cores
// (train/gan_trainer.h), for the paper's "diffusion models are less private than GANs" comparison.
//
//   generator      z [B,z_dim] -> pixel norm -> linear -> [4w, H/4, W/4] -> lrelu, pixel norm
//                  -> 2 x (nearest upsample x2, conv 3x3 (4w->2w, then 2w->w), lrelu 0.2, pixel norm)
//                  -> conv 3x3 (w->C) -> tanh                                   (w = base_width)
//   discriminator  conv 3x3 (C->w) lrelu -> conv 4x4/2 (w->2w) lrelu -> conv 4x4/2 (2w->4w) lrelu
//                  -> linear (4w·H/4·W/4 -> 1): one logit per image
// No batch statistics anywhere, so an image depends on its own z alone.
//
// A GAN folder: config.json (DcganConfig's fields; "architecture": "dcgan" marks the folder),
// generator.safetensors (the generator's EMA weights: what sampling uses), discriminator.safetensors
// (for membership inference by the discriminator's score), and, as training leaves it,
// gan_options.json, members.npy and training_state.safetensors (train/gan_trainer.h).
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <map>
#include <string>

#include "diffmem/io/fields.h"
#include "diffmem/model/generator.h"

namespace diffmem::model {

struct DcganConfig {
  std::string architecture = "dcgan";
  int64_t height = 28, width = 28, channels = 1;  ///< the images it generates
  int64_t z_dim = 64;
  int64_t base_width = 32;
};
DIFFMEM_FIELDS(DcganConfig, architecture, height, width, channels, z_dim, base_width)

/// Throws diffmem::Error naming `where` and the field: architecture not "dcgan", height or width not
/// a positive multiple of 4, channels not 1 or 3, z_dim or base_width below 1.
void validate(const DcganConfig& config, const std::string& where);

class DcganGeneratorImpl : public torch::nn::Module {
 public:
  explicit DcganGeneratorImpl(const DcganConfig& config);
  /// z [B, z_dim] -> images [B, C, H, W] in [-1, 1].
  torch::Tensor forward(const torch::Tensor& z);
  const DcganConfig& config() const { return config_; }

 private:
  DcganConfig config_;
  torch::nn::Linear fc{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, to_image{nullptr};
};
TORCH_MODULE(DcganGenerator);

class DcganDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit DcganDiscriminatorImpl(const DcganConfig& config);
  /// images [B, C, H, W] in [-1, 1] -> logits [B] (high: "real").
  torch::Tensor forward(const torch::Tensor& x);

 private:
  DcganConfig config_;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(DcganDiscriminator);

int64_t parameter_count(const torch::nn::Module& module);

/// True when dir/config.json exists and says "architecture": "dcgan" (a folder train-gan wrote);
/// never throws.
bool is_gan_folder(const std::filesystem::path& dir);
/// dir/config.json, strictly (every field known, each valid); errors name the file.
DcganConfig read_dcgan_config(const std::filesystem::path& dir);

/// Writes dir/generator.safetensors (the weights given: the EMA's), dir/discriminator.safetensors,
/// then dir/config.json, each atomically.
void save_gan(const std::filesystem::path& dir, const DcganConfig& config,
              const std::map<std::string, torch::Tensor>& generator_weights,
              const std::map<std::string, torch::Tensor>& discriminator_weights);
/// The networks of a GAN folder, on `device`, in eval mode; strict about names, shapes and finite
/// weights (errors name the file).
DcganGenerator load_dcgan_generator(const std::filesystem::path& dir, const torch::Device& device);
DcganDiscriminator load_dcgan_discriminator(const std::filesystem::path& dir, const torch::Device& device);

/// A GAN folder's generator as a Generator.
class DcganSampler : public Generator {
 public:
  DcganSampler(const std::filesystem::path& dir, const torch::Device& device);
  torch::Tensor generate(const torch::Tensor& z) override;
  int64_t z_dim() const override { return net_->config().z_dim; }
  int64_t height() const override { return net_->config().height; }
  int64_t width() const override { return net_->config().width; }
  int64_t channels() const override { return net_->config().channels; }
  torch::Device device() const override { return device_; }
  std::string describe() const override;

 private:
  std::filesystem::path dir_;
  torch::Device device_;
  DcganGenerator net_{nullptr};
};

}  // namespace diffmem::model
