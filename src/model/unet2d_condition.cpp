#include "diffmem/model/unet2d_condition.h"

#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/core/ranges.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/checkpoint.h"
#include "diffmem/model/unet2d.h"
#include "diffmem/model/weights.h"
#include "group_norm_silu.h"
#include "unet2d_blocks.h"

namespace diffmem::model {
namespace fs = std::filesystem;
namespace nn = torch::nn;

void to_json(io::Json& j, const PerBlock& p) {
  j = p.scalar ? io::Json(p.values.at(0)) : io::Json(p.values);
}

void from_json(const io::Json& j, PerBlock& p) {
  if (j.is_number_integer()) {
    p = PerBlock{{j.get<int64_t>()}, true};
    return;
  }
  if (!j.is_array() || j.empty()) throw io::FieldError{"", "an integer or a list of integers", j.dump()};
  PerBlock r{{}, false};
  for (const auto& e : j) {
    if (!e.is_number_integer()) throw io::FieldError{"", "an integer or a list of integers", j.dump()};
    r.values.push_back(e.get<int64_t>());
  }
  p = r;
}

namespace {

// Parameters and one image's float activations of a training step, roughly, in doubles (a
// config's numbers may overflow an int64 product): resnets (two 3×3 convolutions and the time
// projection), transformers (self- and cross-attention, a GEGLU feed-forward, the projections),
// and the feature maps each level keeps, about 4 * layers_per_block + 4 of them.
std::pair<double, double> memory_estimate(const UNet2DConditionConfig& c) {
  const double T = static_cast<double>(c.time_embed_dim()), X = static_cast<double>(c.cross_attention_dim);
  const double L = static_cast<double>(c.layers_per_block);
  auto resnet = [&](double in, double out) { return 9 * in * out + 9 * out * out + T * out + (in != out ? in * out : 0); };
  auto transformer = [&](double ch) { return 16 * ch * ch + 2 * X * ch; };
  const size_t n = c.block_out_channels.size();
  double params = 9.0 * static_cast<double>(c.in_channels) * static_cast<double>(c.block_out_channels[0]) +
                  static_cast<double>(c.block_out_channels[0]) * T + T * T;
  double acts = 0, side = static_cast<double>(c.sample_size), prev = static_cast<double>(c.block_out_channels[0]);
  for (size_t i = 0; i < n; ++i) {
    const double ch = static_cast<double>(c.block_out_channels[i]);
    const bool down_attn = c.down_block_types[i].rfind("CrossAttn", 0) == 0;
    const bool up_attn = c.up_block_types[n - 1 - i].rfind("CrossAttn", 0) == 0;
    params += L * resnet(prev, ch) + (down_attn ? L * transformer(ch) : 0);
    params += (L + 1) * resnet(2 * ch, ch) + (up_attn ? (L + 1) * transformer(ch) : 0) + 18 * ch * ch;
    acts += side * side * ch * (4 * L + 4) * ((down_attn || up_attn) ? 2 : 1);
    side /= 2;
    prev = ch;
  }
  params += 2 * resnet(prev, prev) + transformer(prev);
  return {4 * params, 4 * acts};
}

}  // namespace

void validate(const UNet2DConditionConfig& c, const std::string& where) {
  const size_t n = c.block_out_channels.size();
  check(n >= 1 && c.down_block_types.size() == n && c.up_block_types.size() == n,
        where + ": down/up_block_types", std::to_string(n) + " of each (one per block_out_channels)",
        std::to_string(c.down_block_types.size()) + " and " + std::to_string(c.up_block_types.size()));
  for (const auto& t : c.down_block_types)
    check(t == "CrossAttnDownBlock2D" || t == "DownBlock2D", where + ": down_block_types",
          "CrossAttnDownBlock2D or DownBlock2D", "'" + t + "'");
  for (const auto& t : c.up_block_types)
    check(t == "CrossAttnUpBlock2D" || t == "UpBlock2D", where + ": up_block_types",
          "CrossAttnUpBlock2D or UpBlock2D", "'" + t + "'");
  check(c.mid_block_type == "UNetMidBlock2DCrossAttn", where + ": mid_block_type",
        "UNetMidBlock2DCrossAttn", "'" + c.mid_block_type + "'");
  for (const PerBlock* p : {&c.attention_head_dim, c.num_attention_heads ? &*c.num_attention_heads : nullptr})
    if (p && !p->scalar)
      check(p->values.size() == n, where + ": attention_head_dim", std::to_string(n) + " entries",
            std::to_string(p->values.size()));
  for (size_t i = 0; i < n; ++i) {
    const int64_t ch = c.block_out_channels[i], h = c.heads(i);
    check(ch >= 1 && ch % c.norm_num_groups == 0, where + ": block_out_channels",
          "multiples of norm_num_groups " + std::to_string(c.norm_num_groups), std::to_string(ch));
    check(h >= 1 && ch % h == 0, where + ": attention_head_dim", "head counts dividing the channels",
          std::to_string(h) + " heads for " + std::to_string(ch) + " channels");
  }
  check(c.act_fn == "silu" || c.act_fn == "swish", where + ": act_fn", "silu", "'" + c.act_fn + "'");
  check(c.resnet_time_scale_shift == "default", where + ": resnet_time_scale_shift", "default",
        "'" + c.resnet_time_scale_shift + "'");
  check(c.time_embedding_type == "positional", where + ": time_embedding_type", "positional",
        "'" + c.time_embedding_type + "'");
  check(c.transformer_layers_per_block == 1, where + ": transformer_layers_per_block", "1",
        std::to_string(c.transformer_layers_per_block));
  check(c.cross_attention_dim >= 1, where + ": cross_attention_dim", "a positive integer",
        std::to_string(c.cross_attention_dim));
  check(c.layers_per_block >= 1, where + ": layers_per_block", "a positive integer",
        std::to_string(c.layers_per_block));
  const auto [parameter_bytes, activation_bytes] = memory_estimate(c);
  core::check_model_memory(where, parameter_bytes, activation_bytes);
}


UNet2DConditionConfig read_unet2d_condition_config(const fs::path& path) {
  const io::Json j = io::read_json(path);
  const std::string where = path.string();
  if (j.is_object() && j.empty()) fail(where, "a UNet2DConditionModel config (at least block_out_channels)", "an empty object {}");
  if (j.is_object() && j.contains("_class_name") && j["_class_name"] != "UNet2DConditionModel")
    fail(where + ": _class_name", "UNet2DConditionModel", j["_class_name"].dump());
  // Features diffusers has that change the network; accepted only when off.
  for (const char* key : {"class_embed_type", "addition_embed_type", "encoder_hid_dim", "time_cond_proj_dim",
                          "num_class_embeds", "time_embedding_dim", "timestep_post_act",
                          "time_embedding_act_fn", "projection_class_embeddings_input_dim",
                          "cross_attention_norm", "mid_block_only_cross_attention"})
    if (j.is_object() && j.contains(key) && !j[key].is_null())
      fail(where + ": " + key, "null (not implemented)", j[key].dump().substr(0, 40));
  for (const char* key : {"only_cross_attention", "dual_cross_attention", "class_embeddings_concat",
                          "resnet_skip_time_act"})
    if (j.is_object() && j.contains(key) && j[key] != false)
      fail(where + ": " + key, "false (not implemented)", j[key].dump().substr(0, 40));
  for (const char* key : {"conv_in_kernel", "conv_out_kernel"})
    if (j.is_object() && j.contains(key) && j[key] != 3) fail(where + ": " + key, "3", j[key].dump());
  if (j.is_object() && j.contains("attention_type") && j["attention_type"] != "default")
    fail(where + ": attention_type", "default", j["attention_type"].dump());
  return io::read_known_options<UNet2DConditionConfig>(j, where);
}

struct UNet2DConditionModelImpl::Parts {
  nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  detail::TimestepEmbedding time_embedding{nullptr};
  nn::ModuleList down_blocks{nullptr}, up_blocks{nullptr};
  detail::MidBlock mid_block{nullptr};
  nn::GroupNorm conv_norm_out{nullptr};
};

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNet2DConditionConfig& config)
    : config_(config), parts_(std::make_shared<Parts>()) {
  validate(config_, "UNet2DConditionConfig");
  const UNet2DConditionConfig& c = config_;
  Parts& p = *parts_;
  const auto& boc = c.block_out_channels;
  const int64_t n = static_cast<int64_t>(boc.size()), temb = c.time_embed_dim();
  p.conv_in = register_module("conv_in", nn::Conv2d(nn::Conv2dOptions(c.in_channels, boc[0], 3).padding(1)));
  p.time_embedding = register_module("time_embedding", detail::TimestepEmbedding(boc[0], temb));
  auto block = [&](int64_t heads, bool cross) {
    detail::BlockOptions o;
    o.temb = temb;
    o.groups = c.norm_num_groups;
    o.eps = c.norm_eps;
    o.dropout = c.dropout;
    o.attention = cross;
    o.heads = heads;
    o.cross_attention_dim = cross ? c.cross_attention_dim : 0;
    o.linear_projection = c.use_linear_projection;
    o.downsample_padding = c.downsample_padding;
    return o;
  };
  p.down_blocks = register_module("down_blocks", nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    detail::BlockOptions o = block(c.heads(i), c.down_block_types[i] == "CrossAttnDownBlock2D");
    o.in = i == 0 ? boc[0] : boc[i - 1];
    o.out = boc[i];
    o.layers = c.layers_per_block;
    o.resample = i != n - 1;
    p.down_blocks->push_back(detail::DownBlock(o));
  }
  detail::MidBlockOptions m;
  m.channels = boc.back();
  m.temb = temb;
  m.groups = m.attn_groups = c.norm_num_groups;
  m.heads = c.heads(n - 1);
  m.eps = c.norm_eps;
  m.dropout = c.dropout;
  m.output_scale_factor = c.mid_block_scale_factor;
  m.cross_attention_dim = c.cross_attention_dim;
  m.linear_projection = c.use_linear_projection;
  p.mid_block = register_module("mid_block", detail::MidBlock(m));
  p.up_blocks = register_module("up_blocks", nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    detail::BlockOptions o = block(c.heads(n - 1 - i), c.up_block_types[i] == "CrossAttnUpBlock2D");
    o.prev_out = boc[n - 1 - (i == 0 ? 0 : i - 1)];
    o.out = boc[n - 1 - i];
    o.in = boc[n - 1 - std::min(i + 1, n - 1)];
    o.layers = c.layers_per_block + 1;
    o.resample = i != n - 1;
    p.up_blocks->push_back(detail::UpBlock(o));
  }
  p.conv_norm_out = register_module(
      "conv_norm_out", nn::GroupNorm(nn::GroupNormOptions(c.norm_num_groups, boc[0]).eps(c.norm_eps)));
  p.conv_out = register_module("conv_out", nn::Conv2d(nn::Conv2dOptions(boc[0], c.out_channels, 3).padding(1)));
}

torch::Tensor UNet2DConditionModelImpl::forward(const torch::Tensor& x_in, const torch::Tensor& t_in,
                                                const torch::Tensor& context) {
  const UNet2DConditionConfig& c = config_;
  const int64_t f = int64_t{1} << (c.block_out_channels.size() - 1);
  check(x_in.defined() && x_in.dim() == 4 && x_in.size(1) == c.in_channels && x_in.size(2) % f == 0 &&
            x_in.size(3) % f == 0,
        "UNet2DConditionModel: x",
        "[B," + std::to_string(c.in_channels) + ",H,W] with H, W multiples of " + std::to_string(f),
        x_in.defined() ? io::shape_str(x_in) : "undefined");
  const int64_t batch = x_in.size(0);
  check(context.defined() && context.dim() == 3 && context.size(0) == batch &&
            context.size(2) == c.cross_attention_dim,
        "UNet2DConditionModel: encoder_hidden_states",
        "[" + std::to_string(batch) + ",L," + std::to_string(c.cross_attention_dim) + "]",
        context.defined() ? io::shape_str(context) : "undefined");
  check(t_in.numel() == batch || t_in.numel() == 1, "UNet2DConditionModel: timestep",
        "one timestep or " + std::to_string(batch), std::to_string(t_in.numel()) + " timesteps");
  torch::Tensor t = t_in.reshape({-1}).to(x_in.device());
  if (t.numel() != batch) t = t.expand({batch});
  Parts& p = *parts_;
  const torch::Tensor x = c.center_input_sample ? 2 * x_in - 1.0 : x_in;
  torch::Tensor emb = timestep_embedding(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift);
  emb = p.time_embedding(emb.to(x.scalar_type()));
  torch::Tensor h = p.conv_in(x);
  std::vector<torch::Tensor> skips{h};
  for (const auto& b : *p.down_blocks) h = b->as<detail::DownBlockImpl>()->forward(h, emb, skips, context);
  h = p.mid_block->forward(h, emb, context);
  for (const auto& b : *p.up_blocks) h = b->as<detail::UpBlockImpl>()->forward(h, emb, skips, context);
  const auto& norm = p.conv_norm_out->options;
  return p.conv_out(detail::group_norm_silu(h, norm.num_groups(), p.conv_norm_out->weight,
                                            p.conv_norm_out->bias, norm.eps()));
}

void load_unet2d_condition_weights(UNet2DConditionModelImpl& model, const io::Safetensors& file,
                                   const std::string& where) {
  load_weights(model, rename_legacy_attention(file.tensors, where), where, "UNet2DConditionModel");
}

UNet2DConditionModel load_unet2d_condition(const fs::path& dir, const torch::Device& device) {
  const ComponentFiles f = component_files(dir, "diffusion_pytorch_model", "a U-Net folder");
  UNet2DConditionModel model(read_unet2d_condition_config(f.config));
  load_unet2d_condition_weights(*model, io::read_safetensors(f.weights), f.weights.string());
  model->eval();
  model->to(device);
  return model;
}

}  // namespace diffmem::model
