#include "transformer2d.h"

#include <cmath>

namespace diffmem::model::detail {
namespace nn = torch::nn;

CrossAttentionImpl::CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads,
                                       int64_t head_dim)
    : heads_(heads), head_dim_(head_dim) {
  const int64_t inner = heads * head_dim;
  to_q = register_module("to_q", nn::Linear(nn::LinearOptions(query_dim, inner).bias(false)));
  to_k = register_module("to_k", nn::Linear(nn::LinearOptions(context_dim, inner).bias(false)));
  to_v = register_module("to_v", nn::Linear(nn::LinearOptions(context_dim, inner).bias(false)));
  to_out = register_module("to_out", nn::ModuleList());
  to_out->push_back(nn::Linear(inner, query_dim));  // to_out.1 is a parameter-free dropout
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const torch::Tensor& c = context.defined() ? context : x;
  const int64_t b = x.size(0), n = x.size(1), m = c.size(1);
  const torch::Tensor q = to_q(x).view({b, n, heads_, head_dim_}).transpose(1, 2);
  const torch::Tensor k = to_k(c).view({b, m, heads_, head_dim_}).transpose(1, 2);
  const torch::Tensor v = to_v(c).view({b, m, heads_, head_dim_}).transpose(1, 2);
  // Scores in f32 whatever the weights (upcast_attention and softmax upcasting in one).
  const torch::Tensor w =
      torch::softmax(torch::matmul(q.to(torch::kFloat32), k.to(torch::kFloat32).transpose(-1, -2)) *
                         (1.0 / std::sqrt(double(head_dim_))),
                     -1)
          .to(q.scalar_type());
  const torch::Tensor o = torch::matmul(w, v).transpose(1, 2).reshape({b, n, heads_ * head_dim_});
  return to_out[0]->as<nn::Linear>()->forward(o);
}

namespace {

// BasicTransformerBlock (norm_type layer_norm): self-attention, cross-attention, GEGLU.
class BasicTransformerBlockImpl : public nn::Module {
 public:
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim, int64_t cross_dim) {
    const auto ln = nn::LayerNormOptions({dim}).eps(1e-5);
    norm1 = register_module("norm1", nn::LayerNorm(ln));
    attn1 = register_module("attn1", CrossAttention(dim, dim, heads, head_dim));
    norm2 = register_module("norm2", nn::LayerNorm(ln));
    attn2 = register_module("attn2", CrossAttention(dim, cross_dim, heads, head_dim));
    norm3 = register_module("norm3", nn::LayerNorm(ln));
    auto ff = register_module("ff", std::make_shared<nn::Module>());
    auto net = ff->register_module("net", nn::ModuleList());
    auto geglu = std::make_shared<nn::Module>();  // net.0: GEGLU, its projection is "proj"
    proj = geglu->register_module("proj", nn::Linear(dim, 8 * dim));
    net->push_back(geglu);
    net->push_back(nn::Dropout(0.0));  // net.1
    out = nn::Linear(4 * dim, dim);
    net->push_back(out);  // net.2
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& context) {
    x = attn1(norm1(x)) + x;
    x = attn2(norm2(x), context) + x;
    const auto parts = proj(norm3(x)).chunk(2, -1);
    return out(parts[0] * torch::gelu(parts[1])) + x;
  }

 private:
  nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  CrossAttention attn1{nullptr}, attn2{nullptr};
  nn::Linear proj{nullptr}, out{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

}  // namespace

Transformer2DImpl::Transformer2DImpl(const Transformer2DOptions& o) : o_(o) {
  const int64_t inner = o.heads * o.head_dim;
  norm = register_module("norm", nn::GroupNorm(nn::GroupNormOptions(o.groups, o.channels).eps(1e-6)));
  if (o.linear_projection) {
    proj_in = register_module("proj_in", nn::Linear(o.channels, inner));
  } else {
    proj_in = register_module("proj_in", nn::Conv2d(nn::Conv2dOptions(o.channels, inner, 1)));
  }
  transformer_blocks = register_module("transformer_blocks", nn::ModuleList());
  transformer_blocks->push_back(BasicTransformerBlock(inner, o.heads, o.head_dim, o.cross_attention_dim));
  if (o.linear_projection) {
    proj_out = register_module("proj_out", nn::Linear(inner, o.channels));
  } else {
    proj_out = register_module("proj_out", nn::Conv2d(nn::Conv2dOptions(inner, o.channels, 1)));
  }
}

torch::Tensor Transformer2DImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3), inner = o_.heads * o_.head_dim;
  torch::Tensor y = norm(x);
  if (o_.linear_projection) {
    y = proj_in->as<nn::Linear>()->forward(y.permute({0, 2, 3, 1}).reshape({b, h * w, o_.channels}));
  } else {
    y = proj_in->as<nn::Conv2d>()->forward(y).permute({0, 2, 3, 1}).reshape({b, h * w, inner});
  }
  y = transformer_blocks[0]->as<BasicTransformerBlockImpl>()->forward(y, context);
  if (o_.linear_projection) {
    y = proj_out->as<nn::Linear>()->forward(y).reshape({b, h, w, o_.channels}).permute({0, 3, 1, 2});
  } else {
    y = proj_out->as<nn::Conv2d>()->forward(y.reshape({b, h, w, inner}).permute({0, 3, 1, 2}));
  }
  return y + x;
}

}  // namespace diffmem::model::detail
