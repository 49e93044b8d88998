#pragma once
// softmax(q kᵀ / sqrt(d)) v for the text-to-image attention blocks, as fast as the LibTorch at
// hand allows. Private to src/model.
#include <torch/torch.h>

namespace diffmem::model::detail {

/// q [B,h,N,d], k and v [B,h,M,d] (any strides, any floating dtype) → [B,h,N,d] in q's dtype;
/// the scores and the softmax in f32 (diffusers' upcast_attention and upcast_softmax).
/// LibTorch 2.x: its fused scaled_dot_product_attention. LibTorch 1.13 on the CPU without
/// autograd: query blocks whose scores stay in cache (one GEMM, an f32 softmax, one GEMM per
/// block, blocks over the threads) instead of the [B,h,N,M] score tensor, which at SD's 64x64
/// latents is 4096² floats per head. Elsewhere: the plain three-op formula.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

}  // namespace diffmem::model::detail
