#pragma once
// The configuration of a UNet2D, field for field diffusers' UNet2DModel config.json, with
// diffusers' defaults, so that a config.json written by either side means the same network to both.
// Torch-free: the CLI and reports read configs without building a model.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/io/json.h"

namespace diffmem::model {

/// diffusers version whose UNet2DModel this implementation was checked against
/// ("_diffusers_version").
inline constexpr const char* kDiffusersVersion = "0.42.1";

struct UNet2DConfig {
  int64_t sample_size = 32;  // H (diffusers default is null; a size is required here)
  int64_t sample_width = 0;  // W when it differs from H (diffusers' sample_size [H, W]); 0 = square
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  bool center_input_sample = false;                // x → 2x − 1 before conv_in
  /// "positional" (sinusoidal, of integer timesteps) or "fourier" (score-SDE models: a Gaussian
  /// Fourier projection of log(sigma), and the output divided by sigma; see diffusion/score_sde_ve.h)
  std::string time_embedding_type = "positional";
  std::optional<int64_t> time_embedding_dim;       // null → 4 × block_out_channels[0]
  double freq_shift = 0;        // downscale_freq_shift of the sinusoidal embedding
  bool flip_sin_to_cos = true;  // [cos, sin] instead of [sin, cos]
  std::vector<std::string> down_block_types = {"DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D",
                                               "AttnDownBlock2D"};
  std::string mid_block_type = "UNetMidBlock2D";  // "" (null in JSON): no mid block
  std::vector<std::string> up_block_types = {"AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D",
                                             "UpBlock2D"};
  std::vector<int64_t> block_out_channels = {224, 448, 672, 896};
  int64_t layers_per_block = 2;  // resnets per down block; up blocks have one more
  double mid_block_scale_factor = 1;
  int64_t downsample_padding = 1;        // 0: pad right/bottom by one, then a 3×3 stride-2 conv
  std::string downsample_type = "conv";  // conv | resnet (a ResnetBlock2D, down=True; Attn blocks)
  std::string upsample_type = "conv";    // conv | resnet
  double dropout = 0;                    // inside every ResnetBlock2D, before conv2 (training only)
  std::string act_fn = "silu";           // only "silu" (or its alias "swish")
  /// Channels per attention head; null → one head per attention (heads = channels / head dim).
  std::optional<int64_t> attention_head_dim = 8;
  int64_t norm_num_groups = 32;
  std::optional<int64_t>
      attn_norm_num_groups;  // mid-block attention groups; null → norm_num_groups
  double norm_eps = 1e-5;
  std::string resnet_time_scale_shift = "default";  // default | scale_shift
  bool add_attention = true;                        // attention inside the mid block
  /// Class-conditional models: an embedding row per class (num_class_embeds rows of
  /// time_embed_dim) added to the time embedding; null: unconditional. (class_embed_type must be
  /// null: its "timestep" and "identity" variants are not implemented.)
  std::optional<int64_t> num_class_embeds;

  /// Reads a config.json object. Missing keys take diffusers' defaults; keys this implementation
  /// cannot honour (a class_embed_type, other block types, ...) are errors
  /// naming `where`. The result is validated.
  static UNet2DConfig from_json(const io::Json& j, const std::string& where = "config.json");
  /// Every UNet2DModel key, plus "_class_name": "UNet2DModel" and "_diffusers_version".
  io::Json to_json() const;

  /// Throws diffmem::Error naming `where` unless the network can be built and run on
  /// sample_size × sample_size inputs (lengths agree, channels divide into groups and heads,
  /// the size halves evenly at every downsampling).
  void validate(const std::string& where = "UNet2DConfig") const;

  int64_t time_embed_dim() const;
  /// Inputs of time_embedding.linear_1: block_out_channels[0], twice that for "fourier".
  int64_t timestep_input_dim() const;
  bool fourier() const { return time_embedding_type == "fourier"; }
  /// The sample's width: sample_width, or sample_size for a square model.
  int64_t width() const { return sample_width > 0 ? sample_width : sample_size; }
  /// Number of attention heads at a level with `channels` channels.
  int64_t attention_heads(int64_t channels) const;
  /// Number of trainable parameters of the network this config builds (counted without building
  /// it).
  int64_t parameter_count() const;
  /// Bytes of float32 activations one image needs in a training step, roughly (resnet maps and
  /// attention scores); with parameter_count, what validate() holds against --max-memory
  /// (core::check_model_memory).
  double activation_bytes_estimate() const;

  /// Named configurations. "ddpm-cifar10": google/ddpm-cifar10-32 exactly (32×32×3, 35,746,307
  /// parameters). "tiny", "small", "base": 28×28×1 networks for CPU work (about 0.12M, 0.63M and
  /// 3.6M parameters); set sample_size / in_channels / out_channels for other data.
  static UNet2DConfig preset(const std::string& name);
  static std::vector<std::string> preset_names();

  bool operator==(const UNet2DConfig& other) const;
  bool operator!=(const UNet2DConfig& other) const { return !(*this == other); }
};

/// config.json ↔ UNet2DConfig; errors name the file.
UNet2DConfig read_unet2d_config(const std::filesystem::path& path);
void write_unet2d_config(const std::filesystem::path& path, const UNet2DConfig& config);

}  // namespace diffmem::model
