#include "diffmem/model/autoencoder_kl.h"

#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/checkpoint.h"
#include "diffmem/model/weights.h"
#include "unet2d_blocks.h"

namespace diffmem::model {
namespace fs = std::filesystem;
namespace nn = torch::nn;
using namespace detail;

void validate(const AutoencoderKLConfig& c, const std::string& where) {
  const size_t n = c.block_out_channels.size();
  check(n >= 1, where + ": block_out_channels", "at least one level", "none");
  check(c.down_block_types.size() == n && c.up_block_types.size() == n, where + ": down/up_block_types",
        std::to_string(n) + " of each (one per block_out_channels)",
        std::to_string(c.down_block_types.size()) + " and " + std::to_string(c.up_block_types.size()));
  for (const auto& t : c.down_block_types)
    check(t == "DownEncoderBlock2D", where + ": down_block_types", "DownEncoderBlock2D", "'" + t + "'");
  for (const auto& t : c.up_block_types)
    check(t == "UpDecoderBlock2D", where + ": up_block_types", "UpDecoderBlock2D", "'" + t + "'");
  for (int64_t ch : c.block_out_channels)
    check(ch >= 1 && c.norm_num_groups >= 1 && ch % c.norm_num_groups == 0,
          where + ": block_out_channels", "multiples of norm_num_groups " + std::to_string(c.norm_num_groups),
          std::to_string(ch));
  for (const auto& [name, v] : {std::pair<const char*, int64_t>{"in_channels", c.in_channels},
                                {"out_channels", c.out_channels}, {"latent_channels", c.latent_channels},
                                {"layers_per_block", c.layers_per_block}})
    check(v >= 1, where + ": " + name, "a positive integer", std::to_string(v));
  check(c.act_fn == "silu" || c.act_fn == "swish", where + ": act_fn", "silu", "'" + c.act_fn + "'");
  check(!c.shift_factor, where + ": shift_factor", "null (SD 1.x/2.x VAEs)", "a shift factor");
  check(c.use_quant_conv && c.use_post_quant_conv, where + ": use_quant_conv/use_post_quant_conv",
        "true (SD 1.x/2.x VAEs)", "false");
  check(std::isfinite(c.scaling_factor) && c.scaling_factor > 0, where + ": scaling_factor",
        "a finite number > 0", std::to_string(c.scaling_factor));
}

AutoencoderKLConfig read_autoencoder_kl_config(const fs::path& path) {
  const io::Json j = io::read_json(path);
  if (j.is_object() && j.contains("_class_name") && j["_class_name"] != "AutoencoderKL")
    fail(path.string() + ": _class_name", "AutoencoderKL", j["_class_name"].dump());
  for (const char* key : {"latents_mean", "latents_std"})
    if (j.is_object() && j.contains(key) && !j[key].is_null())
      fail(path.string() + ": " + key, "null (SD 1.x/2.x VAEs)", j[key].dump().substr(0, 40));
  return io::read_known_options<AutoencoderKLConfig>(j, path.string());
}

torch::Tensor LatentDistribution::sample(torch::Generator generator) const {
  const torch::Tensor noise =
      torch::randn(mean.sizes(), generator, torch::TensorOptions().dtype(mean.scalar_type()));
  return mean + std() * noise.to(mean.device());
}

namespace {

// UpDecoderBlock2D: resnets without skips, then an upsampler (every level but the last).
class UpDecoderBlockImpl : public nn::Module {
 public:
  UpDecoderBlockImpl(int64_t in, int64_t out, int64_t layers, int64_t groups, bool upsample) {
    resnets = register_module("resnets", nn::ModuleList());
    for (int64_t i = 0; i < layers; ++i) {
      ResnetOptions r;
      r.in = i == 0 ? in : out;
      r.out = out;
      r.groups = groups;
      resnets->push_back(ResnetBlock2D(r));
    }
    if (upsample) {
      upsamplers = register_module("upsamplers", nn::ModuleList());
      upsamplers->push_back(Upsample2D(out));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    for (const auto& m : *resnets) x = m->as<ResnetBlock2DImpl>()->forward(x, {});
    if (upsamplers) x = upsamplers[0]->as<Upsample2DImpl>()->forward(x);
    return x;
  }
  nn::ModuleList resnets{nullptr}, upsamplers{nullptr};
};
TORCH_MODULE(UpDecoderBlock);

MidBlock vae_mid_block(const AutoencoderKLConfig& c) {
  MidBlockOptions m;
  m.channels = c.block_out_channels.back();
  m.temb = 0;
  m.groups = m.attn_groups = c.norm_num_groups;
  m.heads = 1;  // attention_head_dim = the channels
  m.attention = c.mid_block_add_attention;
  return MidBlock(m);
}

nn::GroupNorm norm_out(const AutoencoderKLConfig& c, int64_t channels) {
  return nn::GroupNorm(nn::GroupNormOptions(c.norm_num_groups, channels).eps(1e-6));
}

nn::Conv2d conv3(int64_t in, int64_t out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)); }

}  // namespace

AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderKLConfig& config) : config_(config) {
  validate(config_, "AutoencoderKLConfig");
  const auto& ch = config_.block_out_channels;
  const int64_t levels = static_cast<int64_t>(ch.size()), L = config_.latent_channels;
  encoder = register_module("encoder", std::make_shared<nn::Module>());
  enc_conv_in = encoder->register_module("conv_in", conv3(config_.in_channels, ch[0]));
  down_blocks = encoder->register_module("down_blocks", nn::ModuleList());
  for (int64_t i = 0; i < levels; ++i) {
    BlockOptions b;
    b.in = i == 0 ? ch[0] : ch[i - 1];
    b.out = ch[i];
    b.layers = config_.layers_per_block;
    b.temb = 0;
    b.groups = config_.norm_num_groups;
    b.downsample_padding = 0;
    b.resample = i + 1 < levels;
    down_blocks->push_back(DownBlock(b));
  }
  enc_mid = encoder->register_module("mid_block", vae_mid_block(config_).ptr());
  enc_norm_out = encoder->register_module("conv_norm_out", norm_out(config_, ch.back()));
  enc_conv_out = encoder->register_module("conv_out", conv3(ch.back(), 2 * L));
  quant_conv = register_module("quant_conv", nn::Conv2d(nn::Conv2dOptions(2 * L, 2 * L, 1)));
  post_quant_conv = register_module("post_quant_conv", nn::Conv2d(nn::Conv2dOptions(L, L, 1)));
  decoder = register_module("decoder", std::make_shared<nn::Module>());
  dec_conv_in = decoder->register_module("conv_in", conv3(L, ch.back()));
  dec_mid = decoder->register_module("mid_block", vae_mid_block(config_).ptr());
  up_blocks = decoder->register_module("up_blocks", nn::ModuleList());
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t prev = ch[levels - std::max<int64_t>(i, 1)], out = ch[levels - 1 - i];
    up_blocks->push_back(UpDecoderBlock(i == 0 ? ch.back() : prev, out, config_.layers_per_block + 1,
                                        config_.norm_num_groups, i + 1 < levels));
  }
  dec_norm_out = decoder->register_module("conv_norm_out", norm_out(config_, ch[0]));
  dec_conv_out = decoder->register_module("conv_out", conv3(ch[0], config_.out_channels));
}

LatentDistribution AutoencoderKLImpl::encode(const torch::Tensor& images) {
  const int64_t f = int64_t{1} << (config_.block_out_channels.size() - 1);
  check(images.defined() && images.dim() == 4 && images.size(1) == config_.in_channels &&
            images.size(2) % f == 0 && images.size(3) % f == 0,
        "AutoencoderKL.encode", "images [B," + std::to_string(config_.in_channels) +
                                    ",H,W] with H and W multiples of " + std::to_string(f),
        io::shape_str(images));
  std::vector<torch::Tensor> unused;
  torch::Tensor x = enc_conv_in(images);
  for (const auto& m : *down_blocks) x = m->as<DownBlockImpl>()->forward(x, {}, unused);
  x = enc_mid->as<MidBlockImpl>()->forward(x, {});
  x = quant_conv(enc_conv_out(torch::silu(enc_norm_out(x))));
  auto parts = x.chunk(2, 1);
  return {parts[0], parts[1].clamp(-30.0, 20.0)};
}

torch::Tensor AutoencoderKLImpl::decode(const torch::Tensor& z) {
  check(z.defined() && z.dim() == 4 && z.size(1) == config_.latent_channels, "AutoencoderKL.decode",
        "latents [B," + std::to_string(config_.latent_channels) + ",h,w]", io::shape_str(z));
  torch::Tensor x = dec_conv_in(post_quant_conv(z));
  x = dec_mid->as<MidBlockImpl>()->forward(x, {});
  for (const auto& m : *up_blocks) x = m->as<UpDecoderBlockImpl>()->forward(x);
  return dec_conv_out(torch::silu(dec_norm_out(x)));
}

void load_autoencoder_kl_weights(AutoencoderKLImpl& model, const io::Safetensors& file,
                                 const std::string& where) {
  load_weights(model, rename_legacy_attention(file.tensors, where), where, "AutoencoderKL");
}

AutoencoderKL load_autoencoder_kl(const fs::path& dir, const torch::Device& device) {
  const ComponentFiles f = component_files(dir, "diffusion_pytorch_model", "a VAE folder");
  AutoencoderKL model(read_autoencoder_kl_config(f.config));
  load_autoencoder_kl_weights(*model, io::read_safetensors(f.weights), f.weights.string());
  model->eval();
  model->to(device);
  return model;
}

}  // namespace diffmem::model
