#pragma once
// The building blocks of UNet2D, one class per diffusers module, registered under diffusers'
// attribute names so that state-dict keys match UNet2DModel's. Private to src/model.
#include <torch/torch.h>

#include <vector>

namespace diffmem::model::detail {

/// TimestepEmbedding: linear_1 → SiLU → linear_2.
class TimestepEmbeddingImpl : public torch::nn::Cloneable<TimestepEmbeddingImpl> {
 public:
  TimestepEmbeddingImpl(int64_t in, int64_t dim) : in_(in), dim_(dim) { reset(); }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};

 private:
  int64_t in_, dim_;
};
TORCH_MODULE(TimestepEmbedding);

/// GaussianFourierProjection as UNet2DModel builds it for time_embedding_type "fourier" (log=True,
/// flip_sin_to_cos=False): x = log(sigma); p = x W 2 pi; [sin p | cos p]. W ("weight", frozen) is
/// drawn as 16 randn by default, as diffusers does; checkpoints overwrite it.
class GaussianFourierProjectionImpl : public torch::nn::Cloneable<GaussianFourierProjectionImpl> {
 public:
  explicit GaussianFourierProjectionImpl(int64_t size) : size_(size) { reset(); }
  void reset() override;
  /// sigma: [N] f32, > 0 → [N, 2 size] f32.
  torch::Tensor forward(const torch::Tensor& sigma);
  torch::Tensor weight;

 private:
  int64_t size_;
};
TORCH_MODULE(GaussianFourierProjection);

struct ResnetOptions {
  int64_t in = 0, out = 0, temb = 0, groups = 32;  // temb 0: no time embedding (temb_channels None)
  double eps = 1e-6, dropout = 0, output_scale_factor = 1;
  bool scale_shift = false;  // time_embedding_norm "scale_shift": the embedding scales and shifts norm2
  int resample = 0;          // -1: down (avg-pool 2), +1: up (nearest x2), as diffusers' down/up=True
};

/// ResnetBlock2D with time_embedding_norm "default": (x +
/// conv2(drop(silu(norm2(conv1(silu(norm1(x)))
/// + proj(silu(temb))))))) / output_scale_factor, with a 1×1 conv_shortcut when in ≠ out.
/// "scale_shift": proj gives 2C, (scale, shift), and norm2(h) (1 + scale) + shift replaces
/// norm2(h + proj). With `resample` both x and silu(norm1(x)) are pooled or upsampled before conv1.
class ResnetBlock2DImpl : public torch::nn::Cloneable<ResnetBlock2DImpl> {
 public:
  explicit ResnetBlock2DImpl(ResnetOptions o) : o_(o) { reset(); }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb);
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  ResnetOptions o_;
};
TORCH_MODULE(ResnetBlock2D);

struct AttentionOptions {
  int64_t channels = 0, heads = 1, groups = 32;  // groups 0: no group_norm (diffusers' None)
  double eps = 1e-6, rescale_output_factor = 1;
};

/// Attention as built with _from_deprecated_attn_block: spatial self-attention over H·W tokens,
/// GroupNorm first, softmax(q kᵀ / sqrt(head_dim)) v, then (out + x) / rescale_output_factor.
class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  explicit AttentionImpl(AttentionOptions o) : o_(o) { reset(); }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out{
      nullptr};  // [Linear]; diffusers' to_out.1 is a parameter-free dropout

 private:
  AttentionOptions o_;
};
TORCH_MODULE(Attention);

/// Downsample2D(use_conv): padding 0 pads right and bottom by one before the stride-2 3×3 conv.
class Downsample2DImpl : public torch::nn::Cloneable<Downsample2DImpl> {
 public:
  Downsample2DImpl(int64_t channels, int64_t padding) : channels_(channels), padding_(padding) {
    reset();
  }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};

 private:
  int64_t channels_, padding_;
};
TORCH_MODULE(Downsample2D);

/// Upsample2D(use_conv): nearest ×2, then a 3×3 conv.
class Upsample2DImpl : public torch::nn::Cloneable<Upsample2DImpl> {
 public:
  explicit Upsample2DImpl(int64_t channels) : channels_(channels) { reset(); }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};

 private:
  int64_t channels_;
};
TORCH_MODULE(Upsample2D);

struct BlockOptions {
  int64_t in = 0, out = 0, prev_out = 0;  // prev_out: up blocks only
  int64_t layers = 1, temb = 0, groups = 32, heads = 1, downsample_padding = 1;
  double eps = 1e-6, dropout = 0;
  bool attention = false;
  bool resample = true;  // add a downsampler / upsampler (every level but the last)
  bool resnet_resample = false;  // downsample_type / upsample_type "resnet" (attention blocks only)
  bool scale_shift = false;      // resnet_time_scale_shift "scale_shift"
  /// > 0: the attentions are Transformer2DModels attending to a context of this width
  /// (CrossAttnDownBlock2D / CrossAttnUpBlock2D, `heads` heads of out / heads channels).
  int64_t cross_attention_dim = 0;
  bool linear_projection = false;  // use_linear_projection of those transformers
};

/// DownBlock2D / AttnDownBlock2D. Pushes each resnet(+attention) output and the downsampled
/// output onto `skips`.
class DownBlockImpl : public torch::nn::Cloneable<DownBlockImpl> {
 public:
  explicit DownBlockImpl(BlockOptions o) : o_(o) { reset(); }
  void reset() override;
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb,
                        std::vector<torch::Tensor>& skips, const torch::Tensor& context = {});
  torch::nn::ModuleList attentions{nullptr}, resnets{nullptr}, downsamplers{nullptr};

 private:
  BlockOptions o_;
};
TORCH_MODULE(DownBlock);

/// UpBlock2D / AttnUpBlock2D. Pops one skip per resnet (last in, first out) and concatenates it
/// after the hidden state on the channel axis.
class UpBlockImpl : public torch::nn::Cloneable<UpBlockImpl> {
 public:
  explicit UpBlockImpl(BlockOptions o) : o_(o) { reset(); }
  void reset() override;
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb,
                        std::vector<torch::Tensor>& skips, const torch::Tensor& context = {});
  torch::nn::ModuleList attentions{nullptr}, resnets{nullptr}, upsamplers{nullptr};

 private:
  BlockOptions o_;
};
TORCH_MODULE(UpBlock);

struct MidBlockOptions {
  int64_t channels = 0, temb = 0, groups = 32, attn_groups = 32, heads = 1;
  double eps = 1e-6, dropout = 0, output_scale_factor = 1;
  bool attention = true;
  int64_t cross_attention_dim = 0;  // > 0: UNetMidBlock2DCrossAttn (a Transformer2DModel)
  bool linear_projection = false;
  bool scale_shift = false;
};

/// UNetMidBlock2D: resnet, then (attention, resnet).
class MidBlockImpl : public torch::nn::Cloneable<MidBlockImpl> {
 public:
  explicit MidBlockImpl(MidBlockOptions o) : o_(o) { reset(); }
  void reset() override;
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb,
                        const torch::Tensor& context = {});
  torch::nn::ModuleList attentions{nullptr}, resnets{nullptr};

 private:
  MidBlockOptions o_;
};
TORCH_MODULE(MidBlock);

}  // namespace diffmem::model::detail
