#pragma once
// An original single-file Stable Diffusion checkpoint ("v1-5-pruned-emaonly.safetensors": CompVis
// names, one file for the U-Net, the VAE and the text encoder) split into the three components'
// weights under diffusers' names (single_file_names.h), ready for the components' weight loaders.
// Torch-free: the bytes are moved, reshaped (1x1 convs to linear weights) or sliced (OpenCLIP's
// stacked q/k/v rows), never converted.
#include <filesystem>

#include "diffmem/io/safetensors.h"
#include "diffmem/model/single_file_names.h"

namespace diffmem::model {

struct SingleFileParts {
  io::Safetensors unet, vae, text_encoder;
  SingleFileLayout layout;
  bool open_clip = false;  // SD 2.x's text encoder layout
};

/// Reads `file` (safetensors only; a pickled .ckpt is refused by its name) and splits it. A
/// component with no tensors in the file, or a name no rule maps, is a diffmem::Error naming the
/// file.
SingleFileParts read_single_file(const std::filesystem::path& file);

}  // namespace diffmem::model
