#pragma once
// Tiled ℓ2 between every two images of ONE group, as a single batched GEMM.
//
// search::pairwise_tiled_l2 compares two sets, gathering each tile of each operand separately and
// running one GEMM per tile. Within a group both operands are the same images, so here the group
// is laid out tile-major once ([T,N,d], T = G² tiles of d values) and all T Gram matrices come from
// one baddbmm, with each tile's squared norms computed once. Fewer, larger kernels keep the tile
// GEMMs near a plain SGEMM's FLOP rate (bench/blackbox_bench.cpp measures both).
#include <torch/types.h>

#include "diffmem/search/distances.h"

namespace diffmem::attack {

/// images: [N,H,W,C] u8 (any device) -> [N,N] f32 on the same device: tiled ℓ2 (max over the G×G
/// same-position tiles of each tile's normalized ℓ2) of every pair, equal to
/// search::pairwise_tiled_l2(x, x) up to float rounding. When G does not divide H and W the
/// tiles differ in size and this falls back to search::pairwise_tiled_l2.
torch::Tensor self_pairwise_tiled_l2(const torch::Tensor& images, const search::TiledOptions& tiles = {});

}  // namespace diffmem::attack
