#pragma once
// Improved precision and recall (Kynkäänniemi et al. 2019) on feature vectors: each set's
// manifold is the union of balls around its vectors, each ball reaching to that vector's k-th
// nearest neighbour in its own set. Precision: the share of generated vectors inside the real
// manifold (are the samples realistic?); recall: the share of real vectors inside the generated
// manifold (do the samples cover the data?).
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace diffmem::quality {

struct PrecisionRecall {
  double precision = 0, recall = 0;
  int64_t k = 0;
};

/// real [Nr,D], generated [Ng,D] (each more than k vectors, same D, finite); k ≥ 1 (the paper's
/// 3). Distances in f64, `chunk` rows at a time (memory chunk × N). Errors name `where`.
PrecisionRecall precision_recall(const torch::Tensor& real, const torch::Tensor& generated, int64_t k,
                                 const std::string& where, int64_t chunk = 1024);

}  // namespace diffmem::quality
