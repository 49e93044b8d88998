#include "unet2d_blocks.h"

#include "transformer2d.h"

#include <cmath>

#include "diffmem/model/unet2d.h"
#include "batched_matmul.h"
#include "group_norm_silu.h"

namespace diffmem::model {

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos,
                                 double downscale_freq_shift, double max_period) {
  // The same float32 operations in the same order as diffusers, so the embedding is bit-identical.
  const int64_t half = dim / 2;
  auto exponent = torch::arange(0, half, torch::dtype(torch::kFloat32).device(t.device())) *
                  (-std::log(max_period));
  exponent = exponent / (static_cast<double>(half) - downscale_freq_shift);
  auto emb = torch::exp(exponent);
  emb = t.unsqueeze(1).to(torch::kFloat32) * emb.unsqueeze(0);
  emb = torch::cat({torch::sin(emb), torch::cos(emb)}, -1);
  if (flip_sin_to_cos) emb = torch::cat({emb.slice(1, half), emb.slice(1, 0, half)}, -1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1, 0, 0});
  return emb;
}

namespace detail {
namespace nn = torch::nn;

void TimestepEmbeddingImpl::reset() {
  linear_1 = register_module("linear_1", nn::Linear(in_, dim_));
  linear_2 = register_module("linear_2", nn::Linear(dim_, dim_));
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& x) {
  return linear_2(torch::silu(linear_1(x)));
}

void GaussianFourierProjectionImpl::reset() {
  weight = register_parameter("weight", torch::randn({size_}) * 16, /*requires_grad=*/false);
}

torch::Tensor GaussianFourierProjectionImpl::forward(const torch::Tensor& sigma) {
  // diffusers: x[:, None] * W[None, :] * 2 * np.pi, left to right in float32 (pi rounded to it).
  const auto p = torch::log(sigma.to(torch::kFloat32)).unsqueeze(1) * weight.unsqueeze(0) * 2 * M_PI;
  return torch::cat({torch::sin(p), torch::cos(p)}, 1);
}

void ResnetBlock2DImpl::reset() {
  norm1 =
      register_module("norm1", nn::GroupNorm(nn::GroupNormOptions(o_.groups, o_.in).eps(o_.eps)));
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(o_.in, o_.out, 3).padding(1)));
  if (o_.temb > 0)  // temb_channels None (the VAE's blocks): no time embedding at all
    time_emb_proj = register_module("time_emb_proj", nn::Linear(o_.temb, o_.scale_shift ? 2 * o_.out : o_.out));
  norm2 =
      register_module("norm2", nn::GroupNorm(nn::GroupNormOptions(o_.groups, o_.out).eps(o_.eps)));
  dropout = register_module("dropout", nn::Dropout(o_.dropout));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(o_.out, o_.out, 3).padding(1)));
  if (o_.in != o_.out)
    conv_shortcut =
        register_module("conv_shortcut", nn::Conv2d(nn::Conv2dOptions(o_.in, o_.out, 1)));
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  const auto gn_silu = [](const torch::nn::GroupNorm& norm, const torch::Tensor& in) {
    const auto& o = norm->options;
    return group_norm_silu(in, o.num_groups(), norm->weight, norm->bias, o.eps());
  };
  torch::Tensor input = x, h = gn_silu(norm1, x);
  if (o_.resample != 0) {  // diffusers' down=True / up=True: both paths resampled alike
    namespace F = torch::nn::functional;
    const auto resample = [&](const torch::Tensor& t) {
      return o_.resample < 0 ? F::avg_pool2d(t, F::AvgPool2dFuncOptions(2).stride(2))
                             : F::interpolate(t, F::InterpolateFuncOptions()
                                                     .scale_factor(std::vector<double>{2, 2})
                                                     .mode(torch::kNearest));
    };
    input = resample(input);
    h = resample(h);
  }
  h = conv1(h);
  // Without autograd the sums run in place on tensors only this block holds.
  const bool in_place = !torch::GradMode::is_enabled();
  if (o_.scale_shift) {
    const auto& n2 = norm2->options;
    const auto parts = time_emb_proj(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1).chunk(2, 1);
    h = torch::group_norm(h, n2.num_groups(), norm2->weight, norm2->bias, n2.eps()) * (1 + parts[0]) + parts[1];
    h = conv2(dropout(torch::silu(h)));
  } else {
    if (time_emb_proj) {
      const torch::Tensor t = time_emb_proj(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
      h = in_place ? h.add_(t) : h + t;
    }
    h = conv2(dropout(gn_silu(norm2, h)));
  }
  const torch::Tensor shortcut = conv_shortcut ? conv_shortcut(input) : input;
  h = in_place ? h.add_(shortcut) : shortcut + h;
  if (o_.output_scale_factor == 1) return h;
  return in_place ? h.div_(o_.output_scale_factor) : h / o_.output_scale_factor;
}

void AttentionImpl::reset() {
  const int64_t c = o_.channels;
  if (o_.groups > 0)
    group_norm =
        register_module("group_norm", nn::GroupNorm(nn::GroupNormOptions(o_.groups, c).eps(o_.eps)));
  to_q = register_module("to_q", nn::Linear(c, c));
  to_k = register_module("to_k", nn::Linear(c, c));
  to_v = register_module("to_v", nn::Linear(c, c));
  to_out = register_module("to_out", nn::ModuleList(nn::Linear(c, c)));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), n = x.size(2) * x.size(3);
  const int64_t heads = o_.heads, head_dim = c / heads;
  // Channel-first throughout ([B, C, N], tokens are the N = H·W positions): diffusers' token-major
  // arithmetic (x Wᵀ on [B, N, C]) becomes W x on [B, C, N], with no transposed copies. Every
  // product is one batched_matmul (oneDNN where available): q, k and v as one against the stacked
  // weights, broadcast over the batch; the scores against a transposed view; the output
  // projection. 1/sqrt(head_dim) is folded into q's weights and bias.
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  const torch::Tensor normed = (group_norm ? group_norm(x) : x).reshape({b, c, n});
  const torch::Tensor w = torch::cat({to_q->weight * scale, to_k->weight, to_v->weight}).unsqueeze(0);
  const torch::Tensor bias = torch::cat({to_q->bias * scale, to_k->bias, to_v->bias});
  const torch::Tensor qkv = batched_matmul(w, normed, bias);  // [B, 3C, N]
  // [B, C, N] -> [B·heads, head_dim, N] (a view when heads = 1, as in DDPM's models).
  auto part = [&](int64_t i) {
    const torch::Tensor t = qkv.narrow(1, i * c, c);
    return heads == 1 ? t : t.reshape({b * heads, head_dim, n});
  };
  const torch::Tensor q = part(0), k = part(1), v = part(2);
  // p[i, j] = softmax_j(q_i · k_j / sqrt(head_dim)): [B·heads, N, N]
  const torch::Tensor p = torch::softmax(batched_matmul(q.transpose(1, 2), k), -1);
  // out[:, i] = Σ_j v_j p(i, j): [B·heads, head_dim, N]
  const torch::Tensor h = batched_matmul(v, p.transpose(1, 2)).reshape({b, c, n});
  const auto& out = to_out[0]->as<nn::LinearImpl>();
  torch::Tensor y = batched_matmul(out->weight.unsqueeze(0), h, out->bias).view(x.sizes());
  y = torch::GradMode::is_enabled() ? y + x : y.add_(x);
  return o_.rescale_output_factor == 1 ? y : y / o_.rescale_output_factor;
}

void Downsample2DImpl::reset() {
  conv = register_module(
      "conv", nn::Conv2d(nn::Conv2dOptions(channels_, channels_, 3).stride(2).padding(padding_)));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {
  if (padding_ == 0) return conv(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  return conv(x);
}

void Upsample2DImpl::reset() {
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(channels_, channels_, 3).padding(1)));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  auto up = F::interpolate(
      x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
  return conv(up);
}

namespace {
ResnetOptions resnet_options(const BlockOptions& o, int64_t in, int64_t out) {
  ResnetOptions r;
  r.in = in;
  r.out = out;
  r.temb = o.temb;
  r.groups = o.groups;
  r.eps = o.eps;
  r.dropout = o.dropout;
  r.scale_shift = o.scale_shift;
  return r;
}
AttentionOptions attention_options(const BlockOptions& o) {
  AttentionOptions a;
  a.channels = o.out;
  a.heads = o.heads;
  a.groups = o.groups;
  a.eps = o.eps;
  return a;
}

// A block's attention: spatial self-attention (UNet2D) or a Transformer2DModel attending to the
// context (the cross-attention blocks of UNet2DConditionModel).
std::shared_ptr<nn::Module> make_attention(int64_t channels, int64_t heads, int64_t groups,
                                           int64_t cross_dim, bool linear,
                                           const AttentionOptions& self) {
  if (cross_dim <= 0) return Attention(self).ptr();
  Transformer2DOptions t;
  t.channels = channels;
  t.heads = heads;
  t.head_dim = channels / heads;
  t.cross_attention_dim = cross_dim;
  t.groups = groups;
  t.linear_projection = linear;
  return Transformer2D(t).ptr();
}

torch::Tensor attend(const std::shared_ptr<nn::Module>& m, const torch::Tensor& x,
                     const torch::Tensor& context) {
  if (auto* t = m->as<Transformer2DImpl>()) return t->forward(x, context);
  return m->as<AttentionImpl>()->forward(x);
}
}  // namespace

void DownBlockImpl::reset() {
  // Registration order follows diffusers (attentions, resnets, downsamplers).
  attentions = nn::ModuleList();
  resnets = nn::ModuleList();
  for (int64_t i = 0; i < o_.layers; ++i) {
    resnets->push_back(ResnetBlock2D(resnet_options(o_, i == 0 ? o_.in : o_.out, o_.out)));
    if (o_.attention)
      attentions->push_back(make_attention(o_.out, o_.heads, o_.groups, o_.cross_attention_dim,
                                           o_.linear_projection, attention_options(o_)));
  }
  if (o_.attention) register_module("attentions", attentions);
  register_module("resnets", resnets);
  downsamplers = nn::ModuleList();
  if (o_.resample) {
    if (o_.resnet_resample) {
      ResnetOptions r = resnet_options(o_, o_.out, o_.out);
      r.resample = -1;
      downsamplers->push_back(ResnetBlock2D(r));
    } else {
      downsamplers->push_back(Downsample2D(o_.out, o_.downsample_padding));
    }
    register_module("downsamplers", downsamplers);
  }
}

torch::Tensor DownBlockImpl::forward(torch::Tensor x, const torch::Tensor& temb,
                                     std::vector<torch::Tensor>& skips, const torch::Tensor& context) {
  for (size_t i = 0; i < resnets->size(); ++i) {
    x = resnets[i]->as<ResnetBlock2DImpl>()->forward(x, temb);
    if (o_.attention) x = attend(attentions[i], x, context);
    skips.push_back(x);
  }
  if (o_.resample) {
    if (auto* r = downsamplers[0]->as<ResnetBlock2DImpl>()) x = r->forward(x, temb);
    else x = downsamplers[0]->as<Downsample2DImpl>()->forward(x);
    skips.push_back(x);
  }
  return x;
}

void UpBlockImpl::reset() {
  attentions = nn::ModuleList();
  resnets = nn::ModuleList();
  for (int64_t i = 0; i < o_.layers; ++i) {
    // o_.in is the channel count of the skip the last resnet consumes (the level below's input).
    const int64_t skip = i == o_.layers - 1 ? o_.in : o_.out;
    const int64_t from = i == 0 ? o_.prev_out : o_.out;
    resnets->push_back(ResnetBlock2D(resnet_options(o_, from + skip, o_.out)));
    if (o_.attention)
      attentions->push_back(make_attention(o_.out, o_.heads, o_.groups, o_.cross_attention_dim,
                                           o_.linear_projection, attention_options(o_)));
  }
  if (o_.attention) register_module("attentions", attentions);
  register_module("resnets", resnets);
  upsamplers = nn::ModuleList();
  if (o_.resample) {
    if (o_.resnet_resample) {
      ResnetOptions r = resnet_options(o_, o_.out, o_.out);
      r.resample = 1;
      upsamplers->push_back(ResnetBlock2D(r));
    } else {
      upsamplers->push_back(Upsample2D(o_.out));
    }
    register_module("upsamplers", upsamplers);
  }
}

torch::Tensor UpBlockImpl::forward(torch::Tensor x, const torch::Tensor& temb,
                                   std::vector<torch::Tensor>& skips, const torch::Tensor& context) {
  for (size_t i = 0; i < resnets->size(); ++i) {
    TORCH_CHECK(!skips.empty(), "UNet2D: skip connections exhausted");
    x = torch::cat({x, skips.back()}, 1);
    skips.pop_back();
    x = resnets[i]->as<ResnetBlock2DImpl>()->forward(x, temb);
    if (o_.attention) x = attend(attentions[i], x, context);
  }
  if (o_.resample) {
    if (auto* r = upsamplers[0]->as<ResnetBlock2DImpl>()) x = r->forward(x, temb);
    else x = upsamplers[0]->as<Upsample2DImpl>()->forward(x);
  }
  return x;
}

void MidBlockImpl::reset() {
  ResnetOptions r;
  r.in = r.out = o_.channels;
  r.temb = o_.temb;
  r.groups = o_.groups;
  r.eps = o_.eps;
  r.dropout = o_.dropout;
  r.output_scale_factor = o_.output_scale_factor;
  r.scale_shift = o_.scale_shift;
  AttentionOptions a;
  a.channels = o_.channels;
  a.heads = o_.heads;
  a.groups = o_.attn_groups;
  a.eps = o_.eps;
  a.rescale_output_factor = o_.output_scale_factor;
  attentions = nn::ModuleList();
  resnets = nn::ModuleList();
  resnets->push_back(ResnetBlock2D(r));
  if (o_.attention)
    attentions->push_back(make_attention(o_.channels, o_.heads, o_.attn_groups, o_.cross_attention_dim,
                                         o_.linear_projection, a));
  resnets->push_back(ResnetBlock2D(r));
  if (o_.attention) register_module("attentions", attentions);
  register_module("resnets", resnets);
}

torch::Tensor MidBlockImpl::forward(torch::Tensor x, const torch::Tensor& temb,
                                    const torch::Tensor& context) {
  x = resnets[0]->as<ResnetBlock2DImpl>()->forward(x, temb);
  if (o_.attention) x = attend(attentions[0], x, context);
  return resnets[1]->as<ResnetBlock2DImpl>()->forward(x, temb);
}

}  // namespace detail
}  // namespace diffmem::model
