#pragma once
// 16-float GCC vectors for the fused GroupNorm+SiLU kernel (group_norm_silu.cpp, its only user):
// masked loads and stores, a horizontal sum, e^x and the sigmoid. Everything is always-inline, so
// the one source that includes this compiles it once per ISA it targets.
#include <cstdint>
#include <cstring>

// The 64-byte vectors below never cross a call boundary (every helper is always-inline), so
// GCC's note that passing them by value would differ between ISAs does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace diffmem::model::detail {
namespace {

// ---------------------------------------------------------------------------------------------
// The kernel works on 16-float GCC vectors. Written once as always-inline code and instantiated
// in three functions compiled for AVX-512, AVX2+FMA and the baseline ISA; the best one the CPU
// runs is chosen once. Per (sample, group) the work is independent and its arithmetic order is
// fixed, so results do not depend on how many threads share the groups.
// ---------------------------------------------------------------------------------------------
constexpr int64_t kLanes = 16;
typedef float VecF __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t VecI __attribute__((vector_size(kLanes * sizeof(int32_t))));
#define DIFFMEM_ALWAYS_INLINE inline __attribute__((always_inline))

DIFFMEM_ALWAYS_INLINE VecF splat(float v) { return VecF{} + v; }

/// The first k (1..16) floats at p; the remaining lanes hold `fill`.
DIFFMEM_ALWAYS_INLINE VecF load(const float* p, int64_t k, float fill) {
  VecF v;
  if (k == kLanes) {
    std::memcpy(&v, p, sizeof v);
  } else {
    v = splat(fill);
    for (int64_t l = 0; l < k; ++l) v[l] = p[l];
  }
  return v;
}

/// Stores the first k (1..16) lanes. The full case is one vector store; a variable-length
/// memcpy would become `rep movsb` and cost more than the arithmetic.
DIFFMEM_ALWAYS_INLINE void store(float* p, VecF v, int64_t k) {
  if (k == kLanes) {
    std::memcpy(p, &v, sizeof v);
  } else {
    for (int64_t l = 0; l < k; ++l) p[l] = v[l];
  }
}

DIFFMEM_ALWAYS_INLINE double horizontal_sum(VecF v) {
  double s = 0;
  for (int64_t l = 0; l < kLanes; ++l) s += v[l];
  return s;
}

/// e^x to about 2 ulp (Cephes' expf: x = n ln2 + r, |r| ≤ ln2/2, a degree-6 polynomial in r,
/// 2^n from the exponent bits). x is clamped to [-87, 88] so 2^n stays a normal float; NaN stays
/// NaN (it fails both comparisons).
DIFFMEM_ALWAYS_INLINE VecF exp_approx(VecF x) {
  x = x < splat(-87.0f) ? splat(-87.0f) : x;
  x = x > splat(88.0f) ? splat(88.0f) : x;
  const VecF magic = splat(12582912.0f);  // 1.5·2^23: adding it rounds to an integer
  const VecF t = x * 1.44269504088896341f + magic;
  const VecF n = t - magic;
  VecI ti, mi;
  std::memcpy(&ti, &t, sizeof t);
  std::memcpy(&mi, &magic, sizeof magic);
  const VecI scale_bits = ((ti - mi) + 127) << 23;
  VecF scale;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  VecF r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  VecF p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  return p * scale;
}

DIFFMEM_ALWAYS_INLINE VecF sigmoid(VecF y) { return 1.0f / (1.0f + exp_approx(-y)); }

}  // namespace
}  // namespace diffmem::model::detail
