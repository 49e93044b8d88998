#include "diffmem/search/distances.h"

#include <torch/torch.h>

#include "diffmem/core/error.h"
#include "diffmem/search/knn.h"

namespace diffmem::search {
namespace {

void check_rows(const torch::Tensor& t, const char* where, const char* name) {
  check(t.defined() && t.dim() == 2, where, std::string(name) + " of shape [N,D]",
        t.defined() ? "shape " + c10::str(t.sizes()) : std::string("an undefined tensor"));
  check(t.scalar_type() == torch::kFloat, where, std::string(name) + " of dtype float32",
        std::string(c10::toString(t.scalar_type())));
}

void check_pair(const torch::Tensor& a, const torch::Tensor& b, const char* where, bool same_rows) {
  check_rows(a, where, "a");
  check_rows(b, where, "b");
  check(a.size(1) == b.size(1), where, "a and b of the same dimension D",
        std::to_string(a.size(1)) + " and " + std::to_string(b.size(1)));
  if (same_rows) {
    check(a.size(0) == b.size(0), where, "a and b with the same number of rows",
          std::to_string(a.size(0)) + " and " + std::to_string(b.size(0)));
  }
  check(a.device() == b.device(), where, "a and b on the same device",
        a.device().str() + " and " + b.device().str());
}

void check_shape(const ImageShape& s, int64_t d, int64_t grid, const char* where) {
  check(s.height >= 1 && s.width >= 1 && s.channels >= 1 && s.dim() == d, where,
        "rows of H*W*C = " + std::to_string(s.dim()) + " values (H=" + std::to_string(s.height) +
            ", W=" + std::to_string(s.width) + ", C=" + std::to_string(s.channels) + ")",
        std::to_string(d));
  check(grid >= 1, "TiledOptions.grid", "grid >= 1", std::to_string(grid));
}

// ‖a−b‖² of every pair through one GEMM: ‖a‖² + ‖b‖² − 2ab, clamped at 0 (cancellation can make
// a near-zero distance slightly negative).
torch::Tensor pairwise_sqdist(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor an = a.mul(a).sum(1, /*keepdim=*/true);
  torch::Tensor bn = b.mul(b).sum(1).unsqueeze(0);
  torch::Tensor out = torch::addmm(bn, a, b.t(), /*beta=*/1, /*alpha=*/-2);
  return out.add_(an).clamp_min_(0);
}

// Visits every non-empty tile as (row range, column range) of the H×W image.
template <typename F>
void for_each_tile(const ImageShape& s, int64_t grid, F&& f) {
  const std::vector<int64_t> rows = tile_bounds(s.height, grid);
  const std::vector<int64_t> cols = tile_bounds(s.width, grid);
  for (int64_t i = 0; i < grid; ++i) {
    for (int64_t j = 0; j < grid; ++j) {
      if (rows[i + 1] > rows[i] && cols[j + 1] > cols[j]) {
        f(rows[i], rows[i + 1], cols[j], cols[j + 1]);
      }
    }
  }
}

}  // namespace

torch::Tensor to_unit_rows(const torch::Tensor& images) {
  check(images.defined() && images.scalar_type() == torch::kByte && images.dim() >= 2,
        "search::to_unit_rows", "uint8 images [N,H,W,C] or [N,D]",
        images.defined() ? std::string(c10::toString(images.scalar_type())) + " " +
                               c10::str(images.sizes())
                         : std::string("an undefined tensor"));
  return images.flatten(1).to(torch::kFloat).div_(255.0f);
}

torch::Tensor l2(const torch::Tensor& a, const torch::Tensor& b) {
  check_pair(a, b, "search::l2", true);
  return (a - b).square_().mean(1).sqrt_();
}

torch::Tensor pairwise_l2(const torch::Tensor& a, const torch::Tensor& b) {
  check_pair(a, b, "search::pairwise_l2", false);
  return pairwise_sqdist(a, b).div_(static_cast<double>(a.size(1))).sqrt_();
}

std::vector<int64_t> tile_bounds(int64_t size, int64_t grid) {
  std::vector<int64_t> b(static_cast<size_t>(grid + 1));
  for (int64_t i = 0; i <= grid; ++i) b[i] = i * size / grid;
  return b;
}

torch::Tensor tiled_l2(const torch::Tensor& a, const torch::Tensor& b, const ImageShape& shape,
                       const TiledOptions& options) {
  check_pair(a, b, "search::tiled_l2", true);
  check_shape(shape, a.size(1), options.grid, "search::tiled_l2");
  const int64_t n = a.size(0);
  torch::Tensor sq = (a - b).square_().view({n, shape.height, shape.width, shape.channels});
  torch::Tensor worst = torch::zeros({n}, a.options());
  for_each_tile(shape, options.grid, [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    const double count = static_cast<double>((r1 - r0) * (c1 - c0) * shape.channels);
    torch::Tensor tile = sq.slice(1, r0, r1).slice(2, c0, c1).sum({1, 2, 3}).div_(count);
    worst = torch::maximum(worst, tile);
  });
  return worst.sqrt_();
}

torch::Tensor pairwise_tiled_l2(const torch::Tensor& a, const torch::Tensor& b,
                                const ImageShape& shape, const TiledOptions& options) {
  check_pair(a, b, "search::pairwise_tiled_l2", false);
  check_shape(shape, a.size(1), options.grid, "search::pairwise_tiled_l2");
  const torch::Tensor a4 = a.view({a.size(0), shape.height, shape.width, shape.channels});
  const torch::Tensor b4 = b.view({b.size(0), shape.height, shape.width, shape.channels});
  torch::Tensor worst = torch::zeros({a.size(0), b.size(0)}, a.options());
  for_each_tile(shape, options.grid, [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    const torch::Tensor ta = a4.slice(1, r0, r1).slice(2, c0, c1).reshape({a.size(0), -1});
    const torch::Tensor tb = b4.slice(1, r0, r1).slice(2, c0, c1).reshape({b.size(0), -1});
    torch::Tensor d = pairwise_sqdist(ta, tb).div_(static_cast<double>(ta.size(1)));
    torch::max_out(worst, worst, d);
  });
  return worst.sqrt_();
}

CalibratedL2 calibrated_l2_from_knn(const torch::Tensor& knn_distances,
                                    const CalibratedOptions& options,
                                    const torch::Tensor& candidate_l2) {
  const char* where = "search::calibrated_l2";
  check(options.n >= 1 && options.alpha > 0, "CalibratedOptions", "n >= 1 and alpha > 0",
        "n=" + std::to_string(options.n) + ", alpha=" + std::to_string(options.alpha));
  check_rows(knn_distances, where, "knn_distances");
  check(knn_distances.size(1) >= options.n, where,
        "at least n=" + std::to_string(options.n) + " neighbour distances per row",
        std::to_string(knn_distances.size(1)));
  CalibratedL2 r;
  r.neighbourhood = knn_distances.narrow(1, 0, options.n).mean(1);
  if (candidate_l2.defined()) {
    check(candidate_l2.dim() == 1 && candidate_l2.size(0) == knn_distances.size(0), where,
          "candidate_l2 of shape [" + std::to_string(knn_distances.size(0)) + "]",
          "shape " + c10::str(candidate_l2.sizes()));
    r.l2 = candidate_l2.to(knn_distances.options());
  } else {
    r.l2 = knn_distances.select(1, 0).clone();
  }
  r.score = r.l2 / (r.neighbourhood * options.alpha);
  return r;
}

CalibratedL2 calibrated_l2(const torch::Tensor& generations, const torch::Tensor& training,
                           const CalibratedOptions& options) {
  check_pair(generations, training, "search::calibrated_l2", false);
  KnnOptions ko;
  ko.k = options.n;
  check(training.size(0) >= options.n, "search::calibrated_l2",
        "a training set of at least n=" + std::to_string(options.n) + " images",
        std::to_string(training.size(0)));
  return calibrated_l2_from_knn(knn(generations, training, ko).distances, options);
}

}  // namespace diffmem::search
