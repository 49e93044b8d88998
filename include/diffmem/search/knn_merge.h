#pragma once
// The k nearest over a base held in parts (one per rank of an MPI job, say): each part is searched
// on its own (KnnIndex over its rows), and the parts' k nearest are merged into what one search of
// the whole base returns.
//
// The merge orders candidates by (‖q−b‖², base index), the order KnnIndex reports. It takes
// ‖q−b‖² as exact integers (KnnResult::squared on the integer path, which costs nothing; else
// squared_l2_u8 from the uint8 rows, about three times the search itself) rather than from the reported
// distances, since sqrt(‖q−b‖²/D) in float32 maps neighbouring integers to one value: ordering by
// the rounded distance would put ties differently from the whole search. So on the integer path
// (knn.h: uint8 images, KnnArithmetic::kAuto/kInteger) a merge gives the whole search's indices
// and distances exactly; on the float32 path it can differ where that path's own rounding reorders
// candidates whose distances agree to float precision.
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "diffmem/search/knn.h"

namespace diffmem::search {

/// ‖q−b‖² (no normalization) of each query against the base rows `indices` names, as exact int64:
/// queries [Q,D] u8, base [N,D] u8 (both any leading shape flattened to D), indices [Q,k] i64 into
/// the base (-1 gives INT64_MAX). CPU tensors; computed a few queries at a time.
torch::Tensor squared_l2_u8(const torch::Tensor& queries, const torch::Tensor& base,
                            const torch::Tensor& indices);

/// One part's search: its result, where its rows start in the whole base, and the ordering keys
/// (its `squared` where the search gave it, else squared_l2_u8 of its result).
struct KnnPart {
  KnnResult result;
  int64_t offset = 0;
  torch::Tensor keys;  ///< [Q,k_p] i64
};

/// The k nearest of every query over all parts, indices into the whole base (offset added),
/// nearest first by (key, index). Every part holds the same queries; k ≤ the parts' columns in
/// all. Throws diffmem::Error on parts that disagree in query count or too few columns.
KnnResult merge_knn(const std::vector<KnnPart>& parts, int64_t k);

}  // namespace diffmem::search
