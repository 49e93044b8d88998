#pragma once
// Kernel Inception Distance (Bińkowski et al. 2018), as torch-fidelity computes it: the unbiased
// MMD² between two feature sets under the cubic polynomial kernel k(x, y) = (x·y / D + 1)³,
// averaged over random subsets of equal size drawn without replacement. Unlike FID it has an
// unbiased estimator, so small sets compare fairly; the spread over subsets says how sure it is.
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "diffmem/quality/quality_options.h"

namespace diffmem::quality {

struct KidResult {
  double mean = 0;            ///< mean MMD² over the subsets
  double std = 0;             ///< their standard deviation (torch-fidelity's kid_std)
  double standard_error = 0;  ///< std / √subsets
  int64_t subsets = 0, subset_size = 0;
};

/// KID of features a [Na,D] and b [Nb,D] (Na, Nb ≥ 2, same D, finite). Errors name `where` and,
/// for an option, its field.
KidResult kernel_distance(const torch::Tensor& a, const torch::Tensor& b, const KidOptions& options,
                          const std::string& where);

}  // namespace diffmem::quality
