#pragma once
// How a model is opened (checkpoint.h's load_denoiser), torch-free, with its field list.
#include <cstdint>
#include <string>

#include "diffmem/io/fields.h"

namespace diffmem::model {

struct LoadDenoiserOptions {
  /// "diffusers" (a folder, see find_diffusers_files) or "torchscript" (a file saved by
  /// torch.jit.save; see model/torchscript.h). Never guessed from the path.
  std::string format = "diffusers";
  std::string device = "cpu";  // "cpu", "cuda", "cuda:1", "auto" (core::resolve_device)
  /// TorchScript only (a script module does not say): the input it expects.
  int64_t in_channels = 0;
  int64_t sample_size = 0;
};
DIFFMEM_FIELDS(LoadDenoiserOptions, format, device, in_channels, sample_size)

}  // namespace diffmem::model
