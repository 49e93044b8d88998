#include "diffmem/model/unet2d.h"

#include <torch/torch.h>

#include <cstdio>

#include "diffmem/core/error.h"
#include "group_norm_silu.h"
#include "unet2d_blocks.h"

namespace diffmem::model {

namespace nn = torch::nn;

struct UNet2DImpl::Parts {
  nn::Conv2d conv_in{nullptr};
  detail::GaussianFourierProjection time_proj{nullptr};  // "fourier" only
  detail::TimestepEmbedding time_embedding{nullptr};
  nn::Embedding class_embedding{nullptr};  // num_class_embeds only
  nn::ModuleList down_blocks{nullptr};
  detail::MidBlock mid_block{nullptr};
  nn::ModuleList up_blocks{nullptr};
  nn::GroupNorm conv_norm_out{nullptr};
  nn::Conv2d conv_out{nullptr};
};

UNet2DImpl::UNet2DImpl(UNet2DConfig config) : config_(std::move(config)) {
  config_.validate("UNet2D config");
  reset();
}

void UNet2DImpl::reset() {
  // A fresh Parts: Cloneable::clone copy-constructs this object and then calls reset().
  parts_ = std::make_shared<Parts>();
  Parts& p = *parts_;
  const UNet2DConfig& c = config_;
  const auto& boc = c.block_out_channels;
  const int64_t n = static_cast<int64_t>(boc.size());
  const int64_t temb = c.time_embed_dim();

  p.conv_in = register_module("conv_in",
                              nn::Conv2d(nn::Conv2dOptions(c.in_channels, boc[0], 3).padding(1)));
  if (c.fourier())
    p.time_proj = register_module("time_proj", detail::GaussianFourierProjection(boc[0]));
  p.time_embedding =
      register_module("time_embedding", detail::TimestepEmbedding(c.timestep_input_dim(), temb));
  if (c.num_class_embeds)
    p.class_embedding =
        register_module("class_embedding", nn::Embedding(*c.num_class_embeds, temb));

  p.down_blocks = nn::ModuleList();
  for (int64_t i = 0; i < n; ++i) {
    detail::BlockOptions o;
    o.in = i == 0 ? boc[0] : boc[i - 1];
    o.out = boc[i];
    o.layers = c.layers_per_block;
    o.temb = temb;
    o.groups = c.norm_num_groups;
    o.eps = c.norm_eps;
    o.dropout = c.dropout;
    o.attention = c.down_block_types[i] == "AttnDownBlock2D";
    o.heads = c.attention_heads(o.out);
    o.downsample_padding = c.downsample_padding;
    o.resample = i != n - 1;
    o.scale_shift = c.resnet_time_scale_shift == "scale_shift";
    // diffusers honours downsample_type "resnet" in AttnDownBlock2D only (DownBlock2D ignores it)
    o.resnet_resample = o.attention && c.downsample_type == "resnet";
    p.down_blocks->push_back(detail::DownBlock(o));
  }
  register_module("down_blocks", p.down_blocks);

  if (!c.mid_block_type.empty()) {
    detail::MidBlockOptions m;
    m.channels = boc.back();
    m.temb = temb;
    m.groups = c.norm_num_groups;
    // UNetMidBlock2D: without attn_norm_num_groups, the resnets' groups, or no group_norm at all
    // when the resnets use scale_shift.
    m.scale_shift = c.resnet_time_scale_shift == "scale_shift";
    m.attn_groups = c.attn_norm_num_groups.value_or(m.scale_shift ? 0 : c.norm_num_groups);
    m.heads = c.attention_heads(boc.back());
    m.eps = c.norm_eps;
    m.dropout = c.dropout;
    m.output_scale_factor = c.mid_block_scale_factor;
    m.attention = c.add_attention;
    p.mid_block = register_module("mid_block", detail::MidBlock(m));
  }

  p.up_blocks = nn::ModuleList();
  for (int64_t i = 0; i < n; ++i) {
    detail::BlockOptions o;
    o.prev_out = boc[n - 1 - (i == 0 ? 0 : i - 1)];
    o.out = boc[n - 1 - i];
    o.in = boc[n - 1 - std::min(i + 1, n - 1)];
    o.layers = c.layers_per_block + 1;
    o.temb = temb;
    o.groups = c.norm_num_groups;
    o.eps = c.norm_eps;
    o.dropout = c.dropout;
    o.attention = c.up_block_types[i] == "AttnUpBlock2D";
    o.heads = c.attention_heads(o.out);
    o.resample = i != n - 1;
    o.scale_shift = c.resnet_time_scale_shift == "scale_shift";
    o.resnet_resample = o.attention && c.upsample_type == "resnet";
    p.up_blocks->push_back(detail::UpBlock(o));
  }
  register_module("up_blocks", p.up_blocks);

  p.conv_norm_out = register_module(
      "conv_norm_out",
      nn::GroupNorm(nn::GroupNormOptions(c.norm_num_groups, boc[0]).eps(c.norm_eps)));
  p.conv_out = register_module("conv_out",
                               nn::Conv2d(nn::Conv2dOptions(boc[0], c.out_channels, 3).padding(1)));
}

torch::Tensor UNet2DImpl::forward(const torch::Tensor& x_in, const torch::Tensor& t_in,
                                  const torch::Tensor& class_labels) {
  const UNet2DConfig& c = config_;
  // Checked here because a mismatch deep inside (a skip concatenation) reads as a c10 error.
  const int64_t factor = int64_t{1} << (c.block_out_channels.size() - 1);
  if (x_in.dim() != 4 || x_in.size(1) != c.in_channels)
    fail("UNet2D.forward: x", "shape [N, " + std::to_string(c.in_channels) + ", H, W]",
         c10::str(x_in.sizes()));
  if (x_in.size(2) <= 0 || x_in.size(3) <= 0 || x_in.size(2) % factor || x_in.size(3) % factor)
    fail("UNet2D.forward: x", "H and W multiples of " + std::to_string(factor),
         c10::str(x_in.sizes()));
  const int64_t batch = x_in.size(0);
  if (t_in.numel() != batch && t_in.numel() != 1)
    fail("UNet2D.forward: t", "one timestep or " + std::to_string(batch),
         std::to_string(t_in.numel()) + " timesteps");
  auto t = t_in.reshape({-1}).to(x_in.device());
  if (t.numel() != batch) t = t.expand({batch});

  Parts& p = *parts_;
  auto x = c.center_input_sample ? 2 * x_in - 1.0 : x_in;
  torch::Tensor emb;
  if (c.fourier()) {
    if (!(t > 0).all().item<bool>())
      fail("UNet2D.forward: t", "noise levels sigma > 0 (time_embedding_type fourier)",
           c10::str(t.to(torch::kCPU)));
    emb = p.time_proj(t);
  } else {
    emb = timestep_embedding(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift);
  }
  emb = p.time_embedding(emb.to(x.scalar_type()));
  if (p.class_embedding) {
    const int64_t classes = *c.num_class_embeds;
    if (!class_labels.defined())
      fail("UNet2D.forward: class_labels",
           "one class per image (the model is class-conditional, num_class_embeds " +
               std::to_string(classes) + ")",
           "none");
    if (class_labels.numel() != batch || class_labels.is_floating_point())
      fail("UNet2D.forward: class_labels", std::to_string(batch) + " integer labels",
           c10::str(class_labels.sizes()) + " " + std::string(c10::toString(class_labels.scalar_type())));
    const auto labels = class_labels.reshape({-1}).to(x.device(), torch::kLong);
    if (!((labels >= 0) & (labels < classes)).all().item<bool>())
      fail("UNet2D.forward: class_labels", "labels in [0, " + std::to_string(classes) + ")",
           c10::str(labels.to(torch::kCPU)));
    emb = emb + p.class_embedding(labels).to(emb.scalar_type());
  } else if (class_labels.defined()) {
    fail("UNet2D.forward: class_labels", "none (num_class_embeds is null: an unconditional model)",
         std::to_string(class_labels.numel()) + " labels");
  }

  auto h = p.conv_in(x);
  std::vector<torch::Tensor> skips{h};
  for (const auto& block : *p.down_blocks)
    h = block->as<detail::DownBlockImpl>()->forward(h, emb, skips);
  if (p.mid_block) h = p.mid_block(h, emb);
  for (const auto& block : *p.up_blocks)
    h = block->as<detail::UpBlockImpl>()->forward(h, emb, skips);
  const auto& norm = p.conv_norm_out->options;
  auto out = p.conv_out(detail::group_norm_silu(h, norm.num_groups(), p.conv_norm_out->weight,
                                                p.conv_norm_out->bias, norm.eps()));
  // A score-SDE model's output is divided by sigma (UNet2DModel.forward's last step).
  if (c.fourier()) out = out / t.reshape({batch, 1, 1, 1}).to(out.scalar_type());
  return out;
}

int64_t UNet2DImpl::parameter_count() const {
  int64_t total = 0;
  for (const auto& param : parameters()) total += param.numel();
  return total;
}

torch::Device UNet2DImpl::device() const { return parts_->conv_in->weight.device(); }

torch::Tensor UNet2DDenoiser::predict_noise(const torch::Tensor& x, const torch::Tensor& t) {
  return unet_->forward(x, t);
}

torch::Tensor UNet2DDenoiser::predict_noise_for(const torch::Tensor& x, const torch::Tensor& t,
                                                const torch::Tensor& class_labels) {
  return unet_->forward(x, t, class_labels);
}

int64_t UNet2DDenoiser::num_classes() const { return unet_->config().num_class_embeds.value_or(0); }

bool UNet2DDenoiser::takes_sigma() const { return unet_->config().fourier(); }

std::string UNet2DDenoiser::describe() const {
  const UNet2DConfig& c = unet_->config();
  char buf[128];
  std::snprintf(buf, sizeof buf, "UNet2D %.2fM params, %lldx%lldx%lld",
                static_cast<double>(unet_->parameter_count()) / 1e6,
                static_cast<long long>(c.sample_size), static_cast<long long>(c.width()),
                static_cast<long long>(c.in_channels));
  std::string s = buf;
  if (c.num_class_embeds) s += ", " + std::to_string(*c.num_class_embeds) + " classes";
  if (c.fourier()) s += ", score-SDE (fourier time embedding)";
  return s;
}

}  // namespace diffmem::model
