#include "diffmem/attack/blackbox_distances.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>

#include "diffmem/core/error.h"

namespace diffmem::attack {
namespace {

// dst [N, r1−r0, c1−c0, C] f32 (contiguous) <- the tile rows r0..r1, columns c0..c1 of src
// [N,H,W,C] u8. On the CPU a plain loop over image rows (one contiguous run of (c1−c0)·C bytes
// each) converts faster than a strided Tensor::copy_ (0.02–0.06 s against 0.04–0.10 s for the 16
// tiles of 500 images at 256²×3 on 2 threads); elsewhere copy_ does it.
void gather_tile(const torch::Tensor& src, torch::Tensor& dst, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  if (!src.is_cpu() || !src.is_contiguous()) {
    dst.copy_(src.slice(1, r0, r1).slice(2, c0, c1));
    return;
  }
  const int64_t h = src.size(1), w = src.size(2), c = src.size(3), th = r1 - r0, run = (c1 - c0) * c;
  const uint8_t* in = src.data_ptr<uint8_t>();
  float* out = dst.data_ptr<float>();
  at::parallel_for(0, src.size(0) * th, 64, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t img = k / th, y = r0 + k % th;
      const uint8_t* s = in + ((img * h + y) * w + c0) * c;
      float* d = out + k * run;
      for (int64_t v = 0; v < run; ++v) d[v] = static_cast<float>(s[v]);
    }
  });
}

}  // namespace

torch::Tensor self_pairwise_tiled_l2(const torch::Tensor& images, const search::TiledOptions& tiles) {
  check(images.defined() && images.dim() == 4 && images.scalar_type() == torch::kByte,
        "attack::self_pairwise_tiled_l2", "uint8 images [N,H,W,C]",
        images.defined() ? c10::str(images.sizes()) + " " + c10::toString(images.scalar_type())
                         : std::string("an undefined tensor"));
  const int64_t n = images.size(0), h = images.size(1), w = images.size(2), c = images.size(3);
  const int64_t g = tiles.grid;
  check(g >= 1, "TiledOptions.grid", "grid >= 1", std::to_string(g));
  const std::vector<int64_t> rows = search::tile_bounds(h, g), cols = search::tile_bounds(w, g);
  int64_t largest = 0;
  for (int64_t i = 0; i < g; ++i) {
    for (int64_t j = 0; j < g; ++j) {
      largest = std::max(largest, (rows[i + 1] - rows[i]) * (cols[j + 1] - cols[j]) * c);
    }
  }
  const auto f32 = images.options().dtype(torch::kFloat);
  // Pixels stay in 0..255 (exact in f32); the 1/255² goes into the final scale.
  torch::Tensor buffer = torch::empty({n * largest}, f32);
  torch::Tensor gram = torch::empty({n, n}, f32);
  torch::Tensor worst = torch::zeros({n, n}, f32);  // max over tiles of the per-value squared distance
  for (int64_t i = 0; i < g; ++i) {
    for (int64_t j = 0; j < g; ++j) {
      const int64_t th = rows[i + 1] - rows[i], tw = cols[j + 1] - cols[j], d = th * tw * c;
      if (d == 0) continue;
      torch::Tensor x = buffer.narrow(0, 0, n * d).view({n, th, tw, c});
      gather_tile(images, x, rows[i], rows[i + 1], cols[j], cols[j + 1]);
      const torch::Tensor xm = x.view({n, d});
      torch::mm_out(gram, xm, xm.t());
      // ‖a‖² + ‖b‖² − 2ab with the norms read off the Gram matrix's diagonal.
      const torch::Tensor sq = gram.diagonal().clone();
      gram.mul_(-2.0 / static_cast<double>(d)).add_(sq.div_(static_cast<double>(d)).unsqueeze(0)).add_(sq.unsqueeze(1));
      torch::max_out(worst, worst, gram);
    }
  }
  // Cancellation can leave a near-zero distance slightly negative; the diagonal is exactly 0.
  worst.clamp_min_(0).fill_diagonal_(0);
  return worst.div_(255.0 * 255.0).sqrt_();
}

}  // namespace diffmem::attack
