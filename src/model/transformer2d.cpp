#include "transformer2d.h"

#include "attention_kernel.h"
#include "batched_matmul.h"

#include <cmath>

namespace diffmem::model::detail {
namespace nn = torch::nn;

// A Linear layer on token-major activations [..., in]. Debian's LibTorch 1.13 sends these
// skinny GEMMs (thousands of tokens x 64-512 channels) to OpenBLAS on its own threads, where a
// profiled SD-shaped U-Net step spent 155 of ~330 ms; oneDNN's matmul on LibTorch's threads
// (batched_matmul.h) runs them without the hand-over. Elsewhere: the layer itself.
torch::Tensor linear(nn::Linear layer, const torch::Tensor& x) {
  const torch::Tensor wt = layer->weight.t().unsqueeze(0);  // [1, in, out], a strided view
  const torch::Tensor x3 = x.reshape({1, -1, x.size(-1)});
  if (torch::GradMode::is_enabled() || !batched_matmul_uses_onednn(x3, wt)) return layer->forward(x);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = layer->weight.size(0);
  torch::Tensor y = batched_matmul(x3, wt).view(shape);
  return layer->bias.defined() ? y.add_(layer->bias) : y;
}

CrossAttentionImpl::CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads,
                                       int64_t head_dim)
    : heads_(heads), head_dim_(head_dim) {
  const int64_t inner = heads * head_dim;
  to_q = register_module("to_q", nn::Linear(nn::LinearOptions(query_dim, inner).bias(false)));
  to_k = register_module("to_k", nn::Linear(nn::LinearOptions(context_dim, inner).bias(false)));
  to_v = register_module("to_v", nn::Linear(nn::LinearOptions(context_dim, inner).bias(false)));
  to_out = register_module("to_out", nn::ModuleList());
  out_ = nn::Linear(inner, query_dim);
  to_out->push_back(out_);  // to_out.1 is a parameter-free dropout
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const torch::Tensor& c = context.defined() ? context : x;
  const int64_t b = x.size(0), n = x.size(1), m = c.size(1);
  const torch::Tensor q = linear(to_q, x).view({b, n, heads_, head_dim_}).transpose(1, 2);
  const torch::Tensor k = linear(to_k, c).view({b, m, heads_, head_dim_}).transpose(1, 2);
  const torch::Tensor v = linear(to_v, c).view({b, m, heads_, head_dim_}).transpose(1, 2);
  // Scores in f32 whatever the weights (upcast_attention and softmax upcasting in one).
  const torch::Tensor o = attention(q, k, v).transpose(1, 2).reshape({b, n, heads_ * head_dim_});
  return linear(out_, o);
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
    const auto parts = linear(proj, norm3(x)).chunk(2, -1);
    return linear(out, parts[0] * torch::gelu(parts[1])) + x;
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
    y = linear(nn::Linear(std::dynamic_pointer_cast<nn::LinearImpl>(proj_in)),
               y.permute({0, 2, 3, 1}).reshape({b, h * w, o_.channels}));
  } else {
    y = proj_in->as<nn::Conv2d>()->forward(y).permute({0, 2, 3, 1}).reshape({b, h * w, inner});
  }
  y = transformer_blocks[0]->as<BasicTransformerBlockImpl>()->forward(y, context);
  if (o_.linear_projection) {
    y = linear(nn::Linear(std::dynamic_pointer_cast<nn::LinearImpl>(proj_out)), y)
            .reshape({b, h, w, o_.channels})
            .permute({0, 3, 1, 2});
  } else {
    y = proj_out->as<nn::Conv2d>()->forward(y.reshape({b, h, w, inner}).permute({0, 3, 1, 2}));
  }
  return y + x;
}

}  // namespace diffmem::model::detail
