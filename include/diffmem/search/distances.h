#pragma once
// Image distances of Carlini et al. §4–5 on images flattened to float rows in [0,1]:
// [N,D] f32 with D = H*W*C in HWC order (uint8 [N,H,W,C] converts through to_unit_rows).
//   normalized ℓ2   sqrt(mean((a-b)^2))
//   tiled ℓ2        max over a G×G grid of same-position tiles of each tile's normalized ℓ2
//   calibrated ℓ2   ℓ2(x̂,x) / (α · mean ℓ2 from x̂ to its n nearest training images)
// Row-wise versions compare a[i] with b[i]; pairwise versions compare every a[i] with every b[j]
// through a GEMM (‖a‖²+‖b‖²−2ab, clamped at 0). Tensors may live on CPU or CUDA.
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "diffmem/search/search_options.h"

namespace diffmem::search {

/// Height, width and channels of the images a row of D = H*W*C floats holds (HWC order).
struct ImageShape {
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 1;
  int64_t dim() const { return height * width * channels; }
};

/// images: [N,H,W,C] u8 (or [N,D] u8) -> [N,D] f32 in [0,1], same device.
torch::Tensor to_unit_rows(const torch::Tensor& images);

/// a, b: [N,D] f32 -> [N] f32: normalized ℓ2 between a[i] and b[i].
torch::Tensor l2(const torch::Tensor& a, const torch::Tensor& b);

/// a: [Na,D] f32, b: [Nb,D] f32 -> [Na,Nb] f32 normalized ℓ2 of every pair (one GEMM).
torch::Tensor pairwise_l2(const torch::Tensor& a, const torch::Tensor& b);

/// The tile boundaries along one axis of length `size`: grid+1 offsets (some tiles may be empty).
std::vector<int64_t> tile_bounds(int64_t size, int64_t grid);

/// a, b: [N,D] f32 with D = shape.dim() -> [N] f32 tiled ℓ2 between a[i] and b[i].
torch::Tensor tiled_l2(const torch::Tensor& a, const torch::Tensor& b, const ImageShape& shape,
                       const TiledOptions& options = {});

/// a: [Na,D], b: [Nb,D] f32 -> [Na,Nb] f32 tiled ℓ2 of every pair (one GEMM per tile).
torch::Tensor pairwise_tiled_l2(const torch::Tensor& a, const torch::Tensor& b,
                                const ImageShape& shape, const TiledOptions& options = {});

struct CalibratedL2 {
  torch::Tensor score;      ///< [Q] f32: l2 / (alpha * neighbourhood); small = memorized
  torch::Tensor l2;         ///< [Q] f32: ℓ2 from each generation to its candidate
  torch::Tensor neighbourhood;  ///< [Q] f32: mean ℓ2 to the n nearest training images
};

/// From k-NN distances already computed against the training set (knn_distances: [Q,k] f32,
/// ascending, k >= n). The candidate is each row's nearest image (column 0) unless candidate_l2
/// ([Q] f32, ℓ2 from each generation to some other training image) is given.
CalibratedL2 calibrated_l2_from_knn(const torch::Tensor& knn_distances,
                                    const CalibratedOptions& options = {},
                                    const torch::Tensor& candidate_l2 = {});

/// generations: [Q,D] f32, training: [N,D] f32 (N >= n). Runs an exact n-NN search (search/knn.h)
/// and scores each generation against its nearest training image.
CalibratedL2 calibrated_l2(const torch::Tensor& generations, const torch::Tensor& training,
                           const CalibratedOptions& options = {});

}  // namespace diffmem::search
