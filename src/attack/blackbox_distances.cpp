#include "diffmem/attack/blackbox_distances.h"

#include <torch/torch.h>

#include "diffmem/core/error.h"

namespace diffmem::attack {

torch::Tensor self_pairwise_tiled_l2(const torch::Tensor& images, const search::TiledOptions& tiles) {
  check(images.defined() && images.dim() == 4 && images.scalar_type() == torch::kByte,
        "attack::self_pairwise_tiled_l2", "uint8 images [N,H,W,C]",
        images.defined() ? c10::str(images.sizes()) + " " + c10::toString(images.scalar_type())
                         : std::string("an undefined tensor"));
  const int64_t n = images.size(0), h = images.size(1), w = images.size(2), c = images.size(3);
  const int64_t g = tiles.grid;
  check(g >= 1, "TiledOptions.grid", "grid >= 1", std::to_string(g));
  if (h % g != 0 || w % g != 0) {
    const torch::Tensor x = search::to_unit_rows(images).contiguous();
    return search::pairwise_tiled_l2(x, x, search::ImageShape{h, w, c}, tiles);
  }
  const int64_t th = h / g, tw = w / g, t = g * g, d = th * tw * c;
  // Tile-major in one pass over the uint8 bytes, then one conversion: [T,N,d] f32.
  const torch::Tensor x = images.view({n, g, th, g, tw, c})
                              .permute({1, 3, 0, 2, 4, 5})
                              .reshape({t, n, d})
                              .to(torch::kFloat)
                              .div_(255.0f);
  const torch::Tensor sq = x.mul(x).sum(2);  // [T,N]
  // ‖a‖² + ‖b‖² − 2ab per tile; clamped because cancellation can dip just below zero.
  torch::Tensor dist = torch::baddbmm(sq.unsqueeze(2), x, x.transpose(1, 2), /*beta=*/1, /*alpha=*/-2);
  dist.add_(sq.unsqueeze(1)).clamp_min_(0);
  return std::get<0>(dist.max(0)).div_(static_cast<double>(d)).sqrt_();
}

}  // namespace diffmem::attack
