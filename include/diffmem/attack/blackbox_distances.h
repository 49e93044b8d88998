#pragma once
// Tiled ℓ2 between every two images of ONE group, streamed one tile at a time.
//
// search::pairwise_tiled_l2 compares two sets of f32 rows. Within a group both operands are the
// same uint8 images, so each tile is converted once into one reused f32 buffer ([N,d], d values per
// tile) and its Gram matrix comes from one GEMM. The squared norms are that Gram matrix's diagonal,
// so no pass over the data remains besides the conversion and the GEMM; the running maximum over
// tiles is folded into one [N,N] matrix. The working set is one tile of the group (24 MiB for 500
// images at 256²×3 with 4×4 tiles), not the whole group as f32 (393 MB): bench/blackbox_bench.cpp
// measures the whole against a plain SGEMM of the same shapes.
//
// On the CPU with an integer GEMM kernel (search/int_gram.h) each tile's Gram matrix is instead
// an exact int32 product of the tile's bytes (packed once per tile): the squared distances are
// then exact integers, and only the final division and square root round. On a GPU the same
// runs through LibTorch's int8 matmul (search/int_gram_device.h).
#include <torch/types.h>

#include "diffmem/search/distances.h"

namespace diffmem::attack {

/// images: [N,H,W,C] u8 (any device) -> [N,N] f32 on the same device: tiled ℓ2 (max over the G×G
/// same-position tiles of each tile's normalized ℓ2, tiles cut by search::tile_bounds, so G need
/// not divide H or W) of every pair, equal to search::pairwise_tiled_l2(x, x) up to float rounding.
/// arithmetic: kAuto takes the integer path where it applies (oneDNN on the CPU, int8 tensor
/// cores on a GPU with LibTorch ≥ 2.2), kFloat the float32 GEMMs, kInteger an exact integer path
/// always (float64 GEMMs of the shifted bytes where neither kernel is there).
torch::Tensor self_pairwise_tiled_l2(const torch::Tensor& images, const search::TiledOptions& tiles = {},
                                     search::KnnArithmetic arithmetic = search::KnnArithmetic::kAuto);

}  // namespace diffmem::attack
