#pragma once
// diffusers' Transformer2DModel as Stable Diffusion's U-Net uses it (one BasicTransformerBlock:
// self-attention, cross-attention to the text, GEGLU feed-forward, each after a LayerNorm and
// added back), with conv or linear proj_in/proj_out. Names as diffusers'. Private to src/model.
#include <torch/torch.h>

namespace diffmem::model::detail {

/// diffusers' Attention (AttnProcessor): to_q/to_k/to_v without bias, to_out.0 with bias.
/// Keys and values come from `context` when given (cross-attention), else from x.
class CrossAttentionImpl : public torch::nn::Module {
 public:
  CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t head_dim);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});

 private:
  int64_t heads_, head_dim_;
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{nullptr};
  torch::nn::Linear out_{nullptr};  // to_out.0
};
TORCH_MODULE(CrossAttention);

struct Transformer2DOptions {
  int64_t channels = 0, heads = 1, head_dim = 0, cross_attention_dim = 0, groups = 32;
  bool linear_projection = false;  // use_linear_projection: Linear proj_in/out instead of 1×1 convs
};

class Transformer2DImpl : public torch::nn::Module {
 public:
  explicit Transformer2DImpl(const Transformer2DOptions& o);
  /// x [B,C,H,W], context [B,L,cross_attention_dim] -> [B,C,H,W]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

 private:
  Transformer2DOptions o_;
  torch::nn::GroupNorm norm{nullptr};
  std::shared_ptr<torch::nn::Module> proj_in, proj_out;
  torch::nn::ModuleList transformer_blocks{nullptr};
};
TORCH_MODULE(Transformer2D);

}  // namespace diffmem::model::detail
