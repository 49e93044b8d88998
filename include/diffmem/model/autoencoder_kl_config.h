#pragma once
// The configuration of diffusers' AutoencoderKL (a vae/config.json), torch-free, with diffusers'
// names and defaults. Keys that do not change encode/decode here (sample_size, force_upcast,
// _class_name, ...) are read and ignored; unsupported values (other block types, shift_factor,
// latents_mean/std, no quant convs) are errors naming the file.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "diffmem/io/fields.h"

namespace diffmem::model {

struct AutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<std::string> down_block_types = {"DownEncoderBlock2D"};
  std::vector<std::string> up_block_types = {"UpDecoderBlock2D"};
  std::vector<int64_t> block_out_channels = {64};
  int64_t layers_per_block = 1;
  std::string act_fn = "silu";
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  int64_t sample_size = 32;
  double scaling_factor = 0.18215;           // SD 1.x/2.x; latents = scaling_factor * z
  std::optional<double> shift_factor;        // SD3/Flux; only null here
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
};
DIFFMEM_FIELDS(AutoencoderKLConfig, in_channels, out_channels, down_block_types, up_block_types,
               block_out_channels, layers_per_block, act_fn, latent_channels, norm_num_groups,
               sample_size, scaling_factor, shift_factor, use_quant_conv, use_post_quant_conv,
               mid_block_add_attention)

/// Throws diffmem::Error naming `where` unless this implementation can build the autoencoder.
void validate(const AutoencoderKLConfig& c, const std::string& where);

/// A vae/config.json.
AutoencoderKLConfig read_autoencoder_kl_config(const std::filesystem::path& path);

}  // namespace diffmem::model
