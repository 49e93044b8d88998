#pragma once
// Row softmax for the attention blocks, torch-free so that it alone is built with libmvec's vector
// expf (-ffast-math on this file only; see CMakeLists.txt). Private to src/model.
#include <cstdint>

namespace diffmem::model::detail {

/// Each of `rows` contiguous rows of `n` floats becomes exp(x - max) / sum, in place. n >= 1.
void softmax_rows(float* x, int64_t rows, int64_t n);

}  // namespace diffmem::model::detail
