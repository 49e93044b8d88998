#include "diffmem/model/clip_text.h"

#include <torch/torch.h>

#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/model/weights.h"

namespace diffmem::model {
namespace fs = std::filesystem;

void validate(const ClipTextConfig& c, const std::string& where) {
  for (const auto& [name, v] :
       {std::pair<const char*, int64_t>{"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
        {"intermediate_size", c.intermediate_size}, {"num_hidden_layers", c.num_hidden_layers},
        {"num_attention_heads", c.num_attention_heads},
        {"max_position_embeddings", c.max_position_embeddings}})
    check(v >= 1, where + ": " + name, "a positive integer", std::to_string(v));
  check(c.hidden_size % c.num_attention_heads == 0, where + ": num_attention_heads",
        "a divisor of hidden_size " + std::to_string(c.hidden_size),
        std::to_string(c.num_attention_heads));
  check(c.hidden_act == "quick_gelu" || c.hidden_act == "gelu", where + ": hidden_act",
        "quick_gelu or gelu", "'" + c.hidden_act + "'");
  check(std::isfinite(c.layer_norm_eps) && c.layer_norm_eps > 0, where + ": layer_norm_eps",
        "a finite number > 0", std::to_string(c.layer_norm_eps));
}

ClipTextConfig read_clip_text_config(const fs::path& path) {
  const io::Json j = io::read_json(path);
  if (j.is_object() && j.contains("model_type") && j["model_type"] != "clip_text_model")
    fail(path.string() + ": model_type", "clip_text_model (transformers' CLIPTextModel)",
         j["model_type"].dump());
  return io::read_known_options<ClipTextConfig>(j, path.string());
}

ClipAttentionImpl::ClipAttentionImpl(int64_t hidden, int64_t heads) : heads_(heads) {
  k_proj = register_module("k_proj", torch::nn::Linear(hidden, hidden));
  v_proj = register_module("v_proj", torch::nn::Linear(hidden, hidden));
  q_proj = register_module("q_proj", torch::nn::Linear(hidden, hidden));
  out_proj = register_module("out_proj", torch::nn::Linear(hidden, hidden));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t b = x.size(0), l = x.size(1), h = x.size(2), d = h / heads_;
  auto split = [&](const torch::Tensor& t) { return t.view({b, l, heads_, d}).transpose(1, 2); };
  const torch::Tensor q = split(q_proj(x)), k = split(k_proj(x)), v = split(v_proj(x));
  torch::Tensor w = torch::matmul(q, k.transpose(-1, -2)) * std::pow(double(d), -0.5);
  if (mask.defined()) w = w + mask;
  w = torch::softmax(w, -1, torch::kFloat32).to(q.scalar_type());
  return out_proj(torch::matmul(w, v).transpose(1, 2).reshape({b, l, h}));
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const ClipTextConfig& c)
    : quick_gelu_(c.hidden_act == "quick_gelu") {
  const auto ln = torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps);
  self_attn = register_module("self_attn", ClipAttention(c.hidden_size, c.num_attention_heads));
  layer_norm1 = register_module("layer_norm1", torch::nn::LayerNorm(ln));
  mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
  fc1 = mlp->register_module("fc1", torch::nn::Linear(c.hidden_size, c.intermediate_size));
  fc2 = mlp->register_module("fc2", torch::nn::Linear(c.intermediate_size, c.hidden_size));
  layer_norm2 = register_module("layer_norm2", torch::nn::LayerNorm(ln));
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  torch::Tensor h = x + self_attn(layer_norm1(x), mask);
  torch::Tensor m = fc1(layer_norm2(h));
  m = quick_gelu_ ? m * torch::sigmoid(1.702 * m) : torch::gelu(m);
  return h + fc2(m);
}

ClipTextModelImpl::ClipTextModelImpl(const ClipTextConfig& config) : config_(config) {
  validate(config_, "ClipTextConfig");
  embeddings = register_module("embeddings", std::make_shared<torch::nn::Module>());
  token_embedding = embeddings->register_module(
      "token_embedding", torch::nn::Embedding(config_.vocab_size, config_.hidden_size));
  position_embedding = embeddings->register_module(
      "position_embedding",
      torch::nn::Embedding(config_.max_position_embeddings, config_.hidden_size));
  encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  layers = encoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) layers->push_back(ClipEncoderLayer(config_));
  final_layer_norm = register_module(
      "final_layer_norm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({config_.hidden_size}).eps(config_.layer_norm_eps)));
}

ClipTextOutput ClipTextModelImpl::forward(const torch::Tensor& ids, int64_t clip_skip) {
  check(ids.defined() && ids.dim() == 2 && ids.scalar_type() == torch::kLong, "ClipTextModel: ids",
        "int64 token ids [B,L]", ids.defined() ? io::shape_str(ids) : "undefined");
  const int64_t l = ids.size(1);
  check(l >= 1 && l <= config_.max_position_embeddings, "ClipTextModel: ids",
        "a length of 1.." + std::to_string(config_.max_position_embeddings), std::to_string(l));
  check(clip_skip >= 0 && clip_skip < config_.num_hidden_layers, "clip_skip",
        "0.." + std::to_string(config_.num_hidden_layers - 1), std::to_string(clip_skip));
  const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
  check(lo >= 0 && hi < config_.vocab_size, "ClipTextModel: ids",
        "ids in 0.." + std::to_string(config_.vocab_size - 1),
        "ids from " + std::to_string(lo) + " to " + std::to_string(hi));
  const auto opts = torch::TensorOptions().device(ids.device());
  torch::Tensor x = token_embedding(ids) +
                    position_embedding(torch::arange(l, opts.dtype(torch::kLong))).unsqueeze(0);
  const torch::Tensor mask =
      torch::full({l, l}, -std::numeric_limits<float>::infinity(), opts.dtype(x.scalar_type()))
          .triu(1);
  const int64_t used = config_.num_hidden_layers - clip_skip;
  for (int64_t i = 0; i < used; ++i) x = layers[i]->as<ClipEncoderLayer>()->forward(x, mask);
  ClipTextOutput out;
  out.hidden = final_layer_norm(x);
  if (clip_skip == 0) {
    const torch::Tensor row = config_.eos_token_id == 2
                                  ? ids.argmax(-1)
                                  : ids.eq(config_.eos_token_id).to(torch::kInt).argmax(-1);
    out.pooled = out.hidden.index({torch::arange(ids.size(0), opts.dtype(torch::kLong)), row});
  }
  return out;
}

void load_clip_text_weights(ClipTextModelImpl& model, const io::Safetensors& file,
                            const std::string& where) {
  std::map<std::string, io::HostArray> given;
  const std::string prefix = "text_model.";
  for (const auto& [name, a] : file.tensors) {
    std::string n = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
    if (n == "embeddings.position_ids") continue;  // a buffer older transformers saved
    if (!given.emplace(n, a).second)
      fail(where + ": tensor " + quote_name(n), "one tensor under either name",
           "both " + n + " and " + prefix + n);
  }
  load_weights(model, given, where, "CLIPTextModel");
}

ClipTextModel load_clip_text_model(const fs::path& dir, const torch::Device& device) {
  const ComponentFiles f = component_files(dir, "model", "a text encoder folder");
  ClipTextModel model(read_clip_text_config(f.config));
  load_clip_text_weights(*model, io::read_safetensors(f.weights), f.weights.string());
  model->eval();
  model->to(device);
  return model;
}

}  // namespace diffmem::model
