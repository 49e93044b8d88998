#pragma once
// Single-pass CPU kernels over the optimizer's flat float buffers (see optimizer.cpp). A step over
// a 35.7M-parameter model through ATen's tensor operations made one pass per operation and three
// 143 MB temporaries, each above glibc's mmap threshold and so freshly mapped and faulted in page
// by page; these loops make one pass, allocate nothing, and split the range across the OpenMP threads core::set_threads set.
// Torch-free, so the file builds without the precompiled header and with -fno-math-errno, which
// lets the compiler vectorize the square root.
#include <cstdint>

namespace diffmem::train::detail {

/// Σ g[i]² in double. Fixed 64 Ki-element chunks, each summed on one thread, added in chunk
/// order: the same bytes on any thread count (models trained side by side must match models
/// trained one at a time).
double sum_of_squares(const float* g, int64_t n);

/// The step's constants, each rounded to float from its double value as ATen rounds a scalar.
struct AdamScalars {
  float grad_scale = 1;    // gradient clipping's coefficient
  float weight_decay = 0;  // L2 term added to the gradient
  float beta1 = 0.9f, one_minus_beta1 = 0.1f;
  float beta2 = 0.999f, one_minus_beta2 = 0.001f;
  float bc2_sqrt = 1;      // √(1 − β2^t)
  float eps = 1e-8f;
  float step_size = 0;     // lr / (1 − β1^t)
};

/// One Adam step in place, as torch.optim.Adam computes it in float:
/// g' = grad_scale·g (+ weight_decay·p); m = β1·m + (1−β1)·g'; v = β2·v + (1−β2)·g'²;
/// p −= step_size · m / (√v / bc2_sqrt + eps).
void adam_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamScalars& s);

/// e = keep·e + take·p in place (an exponential moving average of the weights: take = 1 − keep).
void ema_update(float* e, const float* p, int64_t n, float keep, float take);

}  // namespace diffmem::train::detail
