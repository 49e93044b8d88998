#pragma once
// Tensor names of an original single-file Stable Diffusion 1.x / 2.x checkpoint (CompVis layout, as
// "v1-5-pruned-emaonly.safetensors": model.diffusion_model.*, first_stage_model.*,
// cond_stage_model.transformer.* or, for SD 2.x, the OpenCLIP cond_stage_model.model.*) mapped to
// the parameter names of the diffusers components diffmem builds (UNet2DConditionModel,
// AutoencoderKL, CLIPTextModel). Names only, no torch: the rules follow diffusers 0.42
// loaders/single_file_utils.py (convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint,
// convert_ldm_clip_checkpoint, convert_open_clip_checkpoint), and
// tests/reference/model/make_single_file_reference.py proves its name lists with them.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace diffmem::model {

enum class SingleFileComponent { unet, vae, text_encoder };

/// Where one checkpoint tensor (or a third of it) goes.
struct SingleFileName {
  /// How the checkpoint tensor becomes the diffusers one: as is; a 1x1 conv weight [C, C, 1, 1]
  /// viewed as a linear weight [C, C] (the VAE mid-block attention q, k, v, proj_out, which
  /// CompVis keeps as convs); or rows [part*n/3, (part+1)*n/3) of an OpenCLIP in_proj tensor
  /// whose dim 0 (n) stacks q, k and v.
  enum class Transform { none, squeeze_1x1, split_qkv };

  SingleFileComponent component = SingleFileComponent::unet;
  /// The parameter name in that component, as its folder's safetensors spells it. Text encoder
  /// names carry no "text_model." prefix (transformers 5 names, what load_clip_text_weights and
  /// the folders' model.safetensors use).
  std::string name;
  Transform transform = Transform::none;
  int part = 0;  ///< split_qkv: 0 q, 1 k, 2 v
};

/// The architecture numbers the names imply (0 for a component with no tensors in the file).
struct SingleFileLayout {
  int64_t unet_blocks = 0;            ///< down blocks = up blocks (downsamplers + 1)
  int64_t unet_layers_per_block = 0;  ///< diffusers' layers_per_block
  int64_t vae_blocks = 0;             ///< encoder down = decoder up blocks
  int64_t vae_layers_per_block = 0;
  /// Layers of the diffusers text encoder: CLIP's encoder.layers count; for OpenCLIP the
  /// resblocks count less one, since SD 2.x conditions on the penultimate layer (diffusers' SD 2
  /// text_encoder has 23 of ViT-H's 24 layers; the last resblock is never run).
  int64_t text_layers = 0;
};

/// True when the text encoder is in OpenCLIP layout (SD 2.x: cond_stage_model.model.*).
bool is_open_clip(const std::vector<std::string>& keys);

/// Inferred from the names alone: input_blocks / output_blocks / .0.op downsamplers for the UNet,
/// encoder.down.N.block.M for the VAE, encoder.layers.N or resblocks.N for the text encoder.
/// Inconsistent counts (say input_blocks that are not 1 + blocks * (layers + 1) - 1) throw
/// diffmem::Error naming `where` (the file).
SingleFileLayout single_file_layout(const std::vector<std::string>& keys,
                                    const std::string& where = "single-file checkpoint");

/// Every mapped tensor, in the order of `keys`: compvis key -> diffusers name (an OpenCLIP in_proj
/// key appears three times, q, k, v). Keys real checkpoints carry that no component uses are
/// skipped: the DDPM schedule tables (betas, alphas_cumprod, ...), model_ema.* (decay,
/// num_updates and the flattened EMA copies of non-pruned files: like diffusers' default, the
/// model.diffusion_model.* weights are used), the CLIP embeddings.position_ids buffer, OpenCLIP
/// text_projection and logit_scale, and OpenCLIP resblocks at or past layout.text_layers (the
/// unused last layer; diffusers drops resblocks.23 the same way). Any other key, and any key under
/// a model prefix that matches no rule (or a block index past the layout), throws diffmem::Error
/// naming `where` and the key: SDXL, ControlNet or upscaler (label_emb) parts are not silently
/// dropped. (Inpainting UNets share SD's names; their 9-channel conv_in is a shape matter.)
std::vector<std::pair<std::string, SingleFileName>> map_single_file(
    const std::vector<std::string>& keys, const std::string& where = "single-file checkpoint");

}  // namespace diffmem::model
