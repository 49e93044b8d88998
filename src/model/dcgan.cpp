#include "diffmem/model/dcgan.h"

#include <torch/torch.h>

#include <cstdio>

#include "diffmem/core/error.h"
#include "diffmem/io/json.h"
#include "diffmem/io/safetensors.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/weights.h"

namespace diffmem::model {
namespace fs = std::filesystem;
namespace nn = torch::nn;

namespace {

torch::Tensor pixel_norm(const torch::Tensor& x) {
  return x * torch::rsqrt(x.pow(2).mean(1, /*keepdim=*/true) + 1e-8);
}

torch::Tensor lrelu(const torch::Tensor& x) { return torch::leaky_relu(x, 0.2); }

std::map<std::string, io::HostArray> read_weights(const fs::path& file, const char* what) {
  if (!fs::is_regular_file(file)) fail(file.string(), std::string("a GAN folder's ") + what + " (diffmem train-gan writes one)", "no such file");
  return io::read_safetensors(file).tensors;
}

}  // namespace

void validate(const DcganConfig& c, const std::string& where) {
  if (c.architecture != "dcgan") fail(where, "architecture \"dcgan\"", "\"" + c.architecture + "\"");
  for (auto [v, key] : {std::pair{c.height, "height"}, std::pair{c.width, "width"}})
    if (v < 4 || v % 4 != 0) fail(where, std::string(key) + " a positive multiple of 4 (two 2x up-samplings)", std::to_string(v));
  if (c.channels != 1 && c.channels != 3) fail(where, "channels 1 or 3", std::to_string(c.channels));
  if (c.z_dim < 1) fail(where, "z_dim >= 1", std::to_string(c.z_dim));
  if (c.base_width < 1) fail(where, "base_width >= 1", std::to_string(c.base_width));
}

DcganGeneratorImpl::DcganGeneratorImpl(const DcganConfig& config) : config_(config) {
  validate(config, "DCGAN config");
  const int64_t w = config.base_width;
  fc = register_module("fc", nn::Linear(config.z_dim, 4 * w * (config.height / 4) * (config.width / 4)));
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(4 * w, 2 * w, 3).padding(1)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(2 * w, w, 3).padding(1)));
  to_image = register_module("to_image", nn::Conv2d(nn::Conv2dOptions(w, config.channels, 3).padding(1)));
}

torch::Tensor DcganGeneratorImpl::forward(const torch::Tensor& z) {
  const int64_t w = config_.base_width;
  torch::Tensor h = fc(pixel_norm(z)).view({z.size(0), 4 * w, config_.height / 4, config_.width / 4});
  h = pixel_norm(lrelu(h));
  for (auto* conv : {&conv1, &conv2}) {
    h = torch::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2});
    h = pixel_norm(lrelu((*conv)(h)));
  }
  return torch::tanh(to_image(h));
}

DcganDiscriminatorImpl::DcganDiscriminatorImpl(const DcganConfig& config) : config_(config) {
  validate(config, "DCGAN config");
  const int64_t w = config.base_width;
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(config.channels, w, 3).padding(1)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(w, 2 * w, 4).stride(2).padding(1)));
  conv3 = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(2 * w, 4 * w, 4).stride(2).padding(1)));
  fc = register_module("fc", nn::Linear(4 * w * (config.height / 4) * (config.width / 4), 1));
}

torch::Tensor DcganDiscriminatorImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = lrelu(conv1(x));
  h = lrelu(conv2(h));
  h = lrelu(conv3(h));
  return fc(h.flatten(1)).squeeze(1);
}

int64_t parameter_count(const nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

bool is_gan_folder(const fs::path& dir) {
  try {
    const fs::path config = dir / "config.json";
    if (!fs::is_regular_file(config)) return false;
    const io::Json j = io::read_json(config);
    return j.is_object() && j.contains("architecture") && j["architecture"] == "dcgan";
  } catch (const std::exception&) {
    return false;
  }
}

DcganConfig read_dcgan_config(const fs::path& dir) {
  const fs::path config = dir / "config.json";
  if (!fs::is_regular_file(config)) fail(config.string(), "a GAN folder's config.json (diffmem train-gan writes one)", "no such file");
  const io::Json j = io::read_json(config);
  if (!j.is_object() || !j.contains("architecture"))
    fail(config.string(), "a GAN config with \"architecture\": \"dcgan\"", "no architecture (a diffusion model's folder?)");
  DcganConfig c = io::read_options<DcganConfig>(j, config.string());
  validate(c, config.string());
  return c;
}

void save_gan(const fs::path& dir, const DcganConfig& config, const std::map<std::string, torch::Tensor>& g,
              const std::map<std::string, torch::Tensor>& d) {
  validate(config, "save_gan");
  fs::create_directories(dir);
  io::write_safetensors(dir / "generator.safetensors", weights_state(g));
  io::write_safetensors(dir / "discriminator.safetensors", weights_state(d));
  io::write_json(dir / "config.json", io::fields_json(config));
}

DcganGenerator load_dcgan_generator(const fs::path& dir, const torch::Device& device) {
  DcganGenerator net(read_dcgan_config(dir));
  const fs::path file = dir / "generator.safetensors";
  load_weights(*net, read_weights(file, "generator.safetensors"), file.string(), "only DCGAN generator parameters");
  net->to(device);
  net->eval();
  return net;
}

DcganDiscriminator load_dcgan_discriminator(const fs::path& dir, const torch::Device& device) {
  DcganDiscriminator net(read_dcgan_config(dir));
  const fs::path file = dir / "discriminator.safetensors";
  load_weights(*net, read_weights(file, "discriminator.safetensors"), file.string(),
               "only DCGAN discriminator parameters");
  net->to(device);
  net->eval();
  return net;
}

DcganSampler::DcganSampler(const fs::path& dir, const torch::Device& device)
    : dir_(dir), device_(device), net_(load_dcgan_generator(dir, device)) {}

torch::Tensor DcganSampler::generate(const torch::Tensor& z) {
  if (z.dim() != 2 || z.size(1) != z_dim())
    fail("generator " + dir_.string(), "latents [N," + std::to_string(z_dim()) + "]", io::shape_str(z));
  torch::NoGradGuard no_grad;
  return net_->forward(z.to(device_, torch::kFloat32));
}

std::string DcganSampler::describe() const {
  char buf[160];
  const DcganConfig& c = net_->config();
  std::snprintf(buf, sizeof buf, "DCGAN %.2fM params, %lldx%lldx%lld, z %lld",
                static_cast<double>(parameter_count(*net_)) / 1e6, static_cast<long long>(c.height),
                static_cast<long long>(c.width), static_cast<long long>(c.channels), static_cast<long long>(c.z_dim));
  return buf;
}

}  // namespace diffmem::model
