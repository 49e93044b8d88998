#pragma once
// transformers' CLIPTextModel (the text encoder of Stable Diffusion): token + position
// embeddings, pre-LayerNorm causal transformer layers (quick_gelu or gelu MLP), a final
// LayerNorm; parameter names as transformers names them (embeddings.token_embedding.weight,
// encoder.layers.N.self_attn.q_proj.weight, ..., final_layer_norm.weight), so its
// model.safetensors loads directly (older files' "text_model." prefix is accepted too).
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <vector>

#include "diffmem/io/safetensors.h"
#include "diffmem/model/clip_text_config.h"

namespace diffmem::model {

class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(int64_t hidden, int64_t heads);
  /// x [B,L,H], mask additive [L,L] (or undefined) -> [B,L,H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

 private:
  int64_t heads_;
  torch::nn::Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(ClipAttention);

class ClipEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit ClipEncoderLayerImpl(const ClipTextConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

 private:
  bool quick_gelu_;
  ClipAttention self_attn{nullptr};
  torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  std::shared_ptr<torch::nn::Module> mlp;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

/// What SD's pipelines take from the encoder.
struct ClipTextOutput {
  torch::Tensor hidden;  ///< [B,L,H]: final_layer_norm of the last layer used (see forward)
  torch::Tensor pooled;  ///< [B,H]: `hidden`'s eos row (clip_skip 0 only; else undefined)
};

class ClipTextModelImpl : public torch::nn::Module {
 public:
  explicit ClipTextModelImpl(const ClipTextConfig& config);
  /// ids [B,L] i64 (L <= max_position_embeddings), any device the module is on. clip_skip k
  /// (diffusers' clip_skip): the output of layer N-k, through final_layer_norm; 0 = the
  /// last_hidden_state. No attention mask beyond the causal one (SD's encoders use none).
  ClipTextOutput forward(const torch::Tensor& ids, int64_t clip_skip = 0);
  const ClipTextConfig& config() const { return config_; }

 private:
  ClipTextConfig config_;
  std::shared_ptr<torch::nn::Module> embeddings, encoder;
  torch::nn::Embedding token_embedding{nullptr}, position_embedding{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(ClipTextModel);

/// Copies weights by transformers name (a "text_model." prefix on every name is dropped, and a
/// saved embeddings.position_ids buffer is skipped); strict as model::load_weights.
void load_clip_text_weights(ClipTextModelImpl& model, const io::Safetensors& file,
                            const std::string& where);

/// A text_encoder/ folder: config.json + model.safetensors (or model.fp16.safetensors when only
/// that variant is there). Pickled pytorch_model.bin weights are refused.
ClipTextModel load_clip_text_model(const std::filesystem::path& dir,
                                   const torch::Device& device = torch::kCPU);

}  // namespace diffmem::model
