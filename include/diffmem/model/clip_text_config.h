#pragma once
// The configuration of transformers' CLIPTextModel (a text_encoder/config.json), torch-free, with
// transformers' defaults and names. Other keys of the file (architectures, dropout, projection_dim,
// torch_dtype, ...) do not change the text encoder's forward pass and are ignored.
#include <cstdint>
#include <string>

#include "diffmem/io/fields.h"

namespace diffmem::model {

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  std::string hidden_act = "quick_gelu";  // quick_gelu (SD 1.x) | gelu (SD 2.x)
  double layer_norm_eps = 1e-5;
  int64_t pad_token_id = 1;
  int64_t bos_token_id = 49406;
  /// The pooled output's row: 2 (the value before transformers PR #24773, still in SD 1.x's
  /// configs) = the position of the largest id; otherwise the first position holding this id.
  int64_t eos_token_id = 49407;
};
DIFFMEM_FIELDS(ClipTextConfig, vocab_size, hidden_size, intermediate_size, num_hidden_layers,
               num_attention_heads, max_position_embeddings, hidden_act, layer_norm_eps,
               pad_token_id, bos_token_id, eos_token_id)

/// Throws diffmem::Error naming `where` unless the encoder can be built (positive sizes, heads
/// dividing hidden_size, a known activation).
void validate(const ClipTextConfig& c, const std::string& where);

/// A text_encoder/config.json (io::read_known_options: other keys ignored, known ones checked).
ClipTextConfig read_clip_text_config(const std::filesystem::path& path);

}  // namespace diffmem::model
