#pragma once
// The configuration of diffusers' UNet2DConditionModel (a unet/config.json of a Stable Diffusion
// pipeline), torch-free, with diffusers' names and defaults. Keys that select features this
// implementation does not have (class or addition embeddings, dual cross-attention, more than
// one transformer layer per block, ...) are errors naming the file when set; others are ignored.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/io/fields.h"

namespace diffmem::model {

/// An int or a per-block list in config.json (attention_head_dim, num_attention_heads).
struct PerBlock {
  std::vector<int64_t> values;  // one entry: the same for every block
  bool scalar = true;
  int64_t at(size_t block) const { return scalar ? values.at(0) : values.at(block); }
};
void to_json(io::Json& j, const PerBlock& p);
void from_json(const io::Json& j, PerBlock& p);

struct UNet2DConditionConfig {
  int64_t sample_size = 64;
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  std::vector<std::string> down_block_types = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                               "CrossAttnDownBlock2D", "DownBlock2D"};
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";
  std::vector<std::string> up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                             "CrossAttnUpBlock2D"};
  std::vector<int64_t> block_out_channels = {320, 640, 1280, 1280};
  int64_t layers_per_block = 2;
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1;
  double dropout = 0;
  std::string act_fn = "silu";
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  int64_t cross_attention_dim = 1280;
  /// Heads per block (diffusers' misnomer: attention_head_dim is the head count unless
  /// num_attention_heads is set).
  PerBlock attention_head_dim{{8}, true};
  std::optional<PerBlock> num_attention_heads;
  bool use_linear_projection = false;
  bool upcast_attention = false;  // scores are always computed in f32 here
  std::string resnet_time_scale_shift = "default";
  std::string time_embedding_type = "positional";
  int64_t transformer_layers_per_block = 1;

  /// The head count of down block `block` (the mid block is the last one's).
  int64_t heads(size_t block) const {
    return num_attention_heads ? num_attention_heads->at(block) : attention_head_dim.at(block);
  }
  int64_t time_embed_dim() const { return 4 * block_out_channels.at(0); }
};
DIFFMEM_FIELDS(UNet2DConditionConfig, sample_size, in_channels, out_channels, center_input_sample,
               flip_sin_to_cos, freq_shift, down_block_types, mid_block_type, up_block_types,
               block_out_channels, layers_per_block, downsample_padding, mid_block_scale_factor,
               dropout, act_fn, norm_num_groups, norm_eps, cross_attention_dim, attention_head_dim,
               num_attention_heads, use_linear_projection, upcast_attention,
               resnet_time_scale_shift, time_embedding_type, transformer_layers_per_block)

/// Throws diffmem::Error naming `where` unless this implementation can build the network and its
/// estimated parameters plus one image's activations fit --max-memory (core::check_model_memory).
void validate(const UNet2DConditionConfig& c, const std::string& where);

/// A unet/config.json.
UNet2DConditionConfig read_unet2d_condition_config(const std::filesystem::path& path);

}  // namespace diffmem::model
