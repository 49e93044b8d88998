#include "diffmem/attack/blackbox_distances.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "diffmem/core/error.h"
#include "diffmem/search/int_gram.h"
#include "diffmem/search/int_gram_device.h"

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

// The integer path: per tile, its bytes as contiguous [n,d] rows, packed once, and one exact
// product with themselves, x_i·(x_j − 128); then ‖x_i − x_j‖² = q_i + q_j − 2(G_ij + 128 s_i)
// with q the squared norms and s the sums, all in int64.
torch::Tensor self_tiled_int(const torch::Tensor& images, const std::vector<int64_t>& rows,
                             const std::vector<int64_t>& cols, int64_t largest) {
  const torch::Tensor src = images.contiguous();
  const int64_t n = src.size(0), h = src.size(1), w = src.size(2), c = src.size(3);
  const int64_t g = static_cast<int64_t>(rows.size()) - 1;
  const uint8_t* in = src.data_ptr<uint8_t>();
  std::vector<uint8_t> tile(static_cast<size_t>(n * largest));
  std::vector<int32_t> gram(static_cast<size_t>(n * n));
  std::vector<search::RowSums> sums(static_cast<size_t>(n));
  // Max over tiles of the per-value squared distance, sqd / d.
  std::vector<double> worst(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < g; ++i) {
    for (int64_t j = 0; j < g; ++j) {
      const int64_t th = rows[i + 1] - rows[i], run = (cols[j + 1] - cols[j]) * c, d = th * run;
      if (d == 0) continue;
      at::parallel_for(0, n, 8, [&](int64_t b, int64_t e) {
        for (int64_t img = b; img < e; ++img) {
          for (int64_t y = 0; y < th; ++y) {
            std::memcpy(tile.data() + img * d + y * run,
                        in + ((img * h + rows[i] + y) * w + cols[j]) * c, static_cast<size_t>(run));
          }
          sums[size_t(img)] = search::row_sums(tile.data() + img * d, d);
        }
      });
      const search::PackedU8Rows packed(tile.data(), n, d, d);
      packed.gram_shifted(tile.data(), n, d, gram.data(), n);
      const double inv_d = 1.0 / static_cast<double>(d);
      at::parallel_for(0, n, 16, [&](int64_t b, int64_t e) {
        for (int64_t a = b; a < e; ++a) {
          const int64_t qa = sums[size_t(a)].squares, sa = sums[size_t(a)].sum;
          for (int64_t o = 0; o < n; ++o) {
            const int64_t dot = int64_t(gram[size_t(a * n + o)]) + 128 * sa;
            const int64_t sqd = qa + sums[size_t(o)].squares - 2 * dot;
            double& wv = worst[size_t(a * n + o)];
            wv = std::max(wv, static_cast<double>(sqd) * inv_d);
          }
        }
      });
    }
  }
  torch::Tensor out = torch::empty({n, n}, torch::kFloat);
  float* po = out.data_ptr<float>();
  for (int64_t t = 0; t < n * n; ++t) {
    po[t] = static_cast<float>(std::sqrt(worst[size_t(t)] / (255.0 * 255.0)));
  }
  return out;
}

// The integer path through LibTorch (a GPU's int8 tensor cores, search/int_gram_device.h): per
// tile, its shifted bytes' Gram matrix and norms give ‖x_i − x_j‖² exactly in int64.
torch::Tensor self_tiled_device(const torch::Tensor& images, const std::vector<int64_t>& rows,
                                const std::vector<int64_t>& cols) {
  const int64_t n = images.size(0), g = static_cast<int64_t>(rows.size()) - 1;
  torch::Tensor worst = torch::zeros({n, n}, images.options().dtype(torch::kDouble));
  for (int64_t i = 0; i < g; ++i) {
    for (int64_t j = 0; j < g; ++j) {
      const torch::Tensor tile =
          images.slice(1, rows[i], rows[i + 1]).slice(2, cols[j], cols[j + 1]).reshape({n, -1});
      if (tile.size(1) == 0) continue;
      const torch::Tensor s = search::shift_u8_rows(tile);
      const torch::Tensor q = search::shifted_norms(s);
      const torch::Tensor sqd = search::shifted_gram(s, s).mul_(-2).add_(q.unsqueeze(0)).add_(q.unsqueeze(1));
      torch::max_out(worst, worst, sqd.to(torch::kDouble).div_(static_cast<double>(tile.size(1))));
    }
  }
  return worst.div_(255.0 * 255.0).sqrt_().to(torch::kFloat);
}

}  // namespace

torch::Tensor self_pairwise_tiled_l2(const torch::Tensor& images, const search::TiledOptions& tiles,
                                     search::KnnArithmetic arithmetic) {
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
  std::string not_integer;
  if (!images.is_cpu()) {
    not_integer = "images on " + images.device().str();
  } else if (largest > search::kIntGramMaxK) {
    not_integer = "tiles of " + std::to_string(largest) + " values (at most " +
                  std::to_string(search::kIntGramMaxK) + ")";
  } else if (!search::int_gram_kernel().available) {
    not_integer = search::int_gram_kernel().reason;
  }
  if (arithmetic != search::KnnArithmetic::kFloat && not_integer.empty() && n > 0) {
    return self_tiled_int(images, rows, cols, largest);
  }
  // Elsewhere the LibTorch integer path: by default where _int_mm serves the device (a GPU), and
  // for 'integer' wherever the oneDNN path does not apply (float64 GEMMs, still exact).
  if (n > 0 && (arithmetic == search::KnnArithmetic::kInteger ||
                (arithmetic == search::KnnArithmetic::kAuto && !images.is_cpu() &&
                 search::device_int_mm_available(images.device())))) {
    return self_tiled_device(images, rows, cols);
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
