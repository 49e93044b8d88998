#include "optimizer_kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace diffmem::train::detail {
namespace {

constexpr int64_t kChunk = int64_t{1} << 16;

int64_t chunks_of(int64_t n) { return (n + kChunk - 1) / kChunk; }

/// fn(chunk, begin, end) for each fixed 64 Ki-element chunk of [0, n), the chunks spread over the
/// OpenMP threads. Chunk boundaries never depend on the thread count.
template <class Fn>
void for_each_chunk(int64_t n, const Fn& fn) {
  const int64_t chunks = chunks_of(n);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) fn(c, c * kChunk, std::min(n, (c + 1) * kChunk));
}

template <bool kDecay>
void adam_range(float* p, const float* g, float* m, float* v, int64_t begin, int64_t end,
                const AdamScalars& s) {
  const float b1 = s.beta1, b2 = s.beta2, one_b1 = s.one_minus_beta1, one_b2 = s.one_minus_beta2;
  const float scale = s.grad_scale, wd = s.weight_decay, bc2 = s.bc2_sqrt, eps = s.eps;
  const float step = s.step_size;
  for (int64_t i = begin; i < end; ++i) {
    float gi = g[i] * scale;
    if constexpr (kDecay) gi += wd * p[i];
    const float mi = m[i] * b1 + one_b1 * gi;
    const float vi = v[i] * b2 + one_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= step * (mi / (std::sqrt(vi) / bc2 + eps));
  }
}

}  // namespace

double sum_of_squares(const float* g, int64_t n) {
  std::vector<double> partial(static_cast<size_t>(chunks_of(n)));
  for_each_chunk(n, [&](int64_t c, int64_t begin, int64_t end) {
    // Eight running sums in a fixed pattern, so the loop vectorizes without reassociation.
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = begin;
    for (; i + 8 <= end; i += 8)
      for (int j = 0; j < 8; ++j) acc[j] += static_cast<double>(g[i + j]) * g[i + j];
    for (; i < end; ++i) acc[0] += static_cast<double>(g[i]) * g[i];
    partial[static_cast<size_t>(c)] =
        ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  });
  double total = 0;
  for (double x : partial) total += x;
  return total;
}

void adam_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamScalars& s) {
  const bool decay = s.weight_decay != 0.0f;
  for_each_chunk(n, [&](int64_t, int64_t begin, int64_t end) {
    if (decay)
      adam_range<true>(p, g, m, v, begin, end, s);
    else
      adam_range<false>(p, g, m, v, begin, end, s);
  });
}

void ema_update(float* e, const float* p, int64_t n, float keep, float take) {
  for_each_chunk(n, [&](int64_t, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) e[i] = e[i] * keep + take * p[i];
  });
}

}  // namespace diffmem::train::detail
