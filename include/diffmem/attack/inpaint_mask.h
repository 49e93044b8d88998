#pragma once
// What the inpainting attacker knows of a target image (Carlini et al. §5.3): the image minus a
// hidden region, which the model must fill in.
//   left | right | top | bottom   that half is hidden (floor(W/2) columns or floor(H/2) rows)
//   center                        a centred floor(H/2) × floor(W/2) square is hidden, starting at
//                                 row (H − floor(H/2)) / 2 and column (W − floor(W/2)) / 2
//   FILE (.png, .jpg, ...)        an H × W image: white (gray ≥ 128) = hidden, black = known — the
//                                 convention of diffusers' inpainting pipelines (colour images are
//                                 converted to gray first)
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace diffmem::attack {

struct InpaintMask {
  std::string spec;       // as given: a name above or the file's path
  torch::Tensor known;    // [1,1,H,W] f32 CPU: 1 = known to the attacker, 0 = hidden (inpainted)
  int64_t hidden_pixels = 0;
  int64_t known_pixels = 0;
};

/// left, right, top, bottom, center.
const std::vector<std::string>& mask_names();

/// The mask `spec` describes for H × W images. Throws diffmem::Error naming `--mask` for an
/// unknown name that is not a file, naming the file when it cannot be read or is not H × W, and
/// whenever nothing would be hidden.
InpaintMask make_mask(const std::string& spec, int64_t height, int64_t width);

}  // namespace diffmem::attack
