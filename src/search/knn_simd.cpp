#include "knn_simd.h"

#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DIFFMEM_KNN_X86 1
#endif

namespace diffmem::search::detail {
namespace {

// Offers the values flagged in `hits` (bit b = value t[b], base row first + b) in column order;
// the threshold tightens as they go in, hence the re-test.
template <typename V>
inline void offer_hits(const V* t, uint64_t hits, int64_t first, RowHeapOf<V>& h) {
  while (hits != 0) {
    const int b = __builtin_ctzll(hits);
    hits &= hits - 1;
    if (t[b] < h.threshold) heap_insert(h, t[b], first + b);
  }
}

void scan_scalar(const float* ip, const float* bn, int64_t cols, int64_t first, RowHeap& h) {
  for (int64_t j = 0; j < cols; ++j) {
    const float v = bn[j] - 2.0f * ip[j];
    if (v < h.threshold) heap_insert(h, v, first + j);
  }
}

void scan_i32_scalar(const int32_t* ip, const int32_t* bn, int64_t cols, int64_t first,
                     RowHeapOf<int32_t>& h) {
  for (int64_t j = 0; j < cols; ++j) {
    const int32_t v = bn[j] - 2 * ip[j];
    if (v < h.threshold) heap_insert(h, v, first + j);
  }
}

float sqdist_scalar(const float* a, const float* b, int64_t d) {
  // Eight interleaved partial sums: the same accuracy class as the vector kernels.
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= d; j += 8) {
    for (int l = 0; l < 8; ++l) {
      const float x = a[j + l] - b[j + l];
      s[l] += x * x;
    }
  }
  for (; j < d; ++j) s[j % 8] += (a[j] - b[j]) * (a[j] - b[j]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

#ifdef DIFFMEM_KNN_X86
__attribute__((target("avx512f"))) void scan_avx512(const float* ip, const float* bn,
                                                     int64_t cols, int64_t first, RowHeap& h) {
  const __m512 minus2 = _mm512_set1_ps(-2.0f);
  __m512 thr = _mm512_set1_ps(h.threshold);
  alignas(64) float t[64];
  int64_t j = 0;
  for (; j + 64 <= cols; j += 64) {
    const __m512 v0 = _mm512_fmadd_ps(_mm512_loadu_ps(ip + j), minus2, _mm512_loadu_ps(bn + j));
    const __m512 v1 =
        _mm512_fmadd_ps(_mm512_loadu_ps(ip + j + 16), minus2, _mm512_loadu_ps(bn + j + 16));
    const __m512 v2 =
        _mm512_fmadd_ps(_mm512_loadu_ps(ip + j + 32), minus2, _mm512_loadu_ps(bn + j + 32));
    const __m512 v3 =
        _mm512_fmadd_ps(_mm512_loadu_ps(ip + j + 48), minus2, _mm512_loadu_ps(bn + j + 48));
    // Ordered compare: NaN is never below the threshold.
    const uint64_t hits = uint64_t(_mm512_cmp_ps_mask(v0, thr, _CMP_LT_OQ)) |
                          uint64_t(_mm512_cmp_ps_mask(v1, thr, _CMP_LT_OQ)) << 16 |
                          uint64_t(_mm512_cmp_ps_mask(v2, thr, _CMP_LT_OQ)) << 32 |
                          uint64_t(_mm512_cmp_ps_mask(v3, thr, _CMP_LT_OQ)) << 48;
    if (hits == 0) continue;
    _mm512_store_ps(t, v0);
    _mm512_store_ps(t + 16, v1);
    _mm512_store_ps(t + 32, v2);
    _mm512_store_ps(t + 48, v3);
    offer_hits(t, hits, first + j, h);
    thr = _mm512_set1_ps(h.threshold);
  }
  for (; j < cols; j += 16) {
    const int64_t n = std::min<int64_t>(16, cols - j);
    const __mmask16 live = static_cast<__mmask16>((1u << n) - 1u);
    const __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(live, ip + j), minus2,
                                     _mm512_maskz_loadu_ps(live, bn + j));
    const uint64_t hits = _mm512_mask_cmp_ps_mask(live, v, thr, _CMP_LT_OQ);
    if (hits == 0) continue;
    _mm512_store_ps(t, v);
    offer_hits(t, hits, first + j, h);
    thr = _mm512_set1_ps(h.threshold);
  }
}

// bn − 2 ip for 16 int32 values (a function, not a lambda: lambdas do not take the target).
__attribute__((target("avx512f"))) inline __m512i fold_value_i32(const int32_t* ip,
                                                                  const int32_t* bn) {
  const __m512i x = _mm512_loadu_si512(ip);
  return _mm512_sub_epi32(_mm512_loadu_si512(bn), _mm512_add_epi32(x, x));
}

__attribute__((target("avx512f"))) void scan_i32_avx512(const int32_t* ip, const int32_t* bn,
                                                         int64_t cols, int64_t first,
                                                         RowHeapOf<int32_t>& h) {
  __m512i thr = _mm512_set1_epi32(h.threshold);
  alignas(64) int32_t t[64];
  int64_t j = 0;
  for (; j + 64 <= cols; j += 64) {
    const __m512i v0 = fold_value_i32(ip + j, bn + j), v1 = fold_value_i32(ip + j + 16, bn + j + 16),
                  v2 = fold_value_i32(ip + j + 32, bn + j + 32),
                  v3 = fold_value_i32(ip + j + 48, bn + j + 48);
    const uint64_t hits = uint64_t(_mm512_cmplt_epi32_mask(v0, thr)) |
                          uint64_t(_mm512_cmplt_epi32_mask(v1, thr)) << 16 |
                          uint64_t(_mm512_cmplt_epi32_mask(v2, thr)) << 32 |
                          uint64_t(_mm512_cmplt_epi32_mask(v3, thr)) << 48;
    if (hits == 0) continue;
    _mm512_store_si512(t, v0);
    _mm512_store_si512(t + 16, v1);
    _mm512_store_si512(t + 32, v2);
    _mm512_store_si512(t + 48, v3);
    offer_hits(t, hits, first + j, h);
    thr = _mm512_set1_epi32(h.threshold);
  }
  for (; j < cols; ++j) {
    const int32_t v = bn[j] - 2 * ip[j];
    if (v < h.threshold) heap_insert(h, v, first + j);
  }
}

__attribute__((target("avx512f"))) float sqdist_avx512(const float* a, const float* b,
                                                        int64_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t j = 0;
  for (; j + 64 <= d; j += 64) {
    const __m512 x0 = _mm512_sub_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j));
    const __m512 x1 = _mm512_sub_ps(_mm512_loadu_ps(a + j + 16), _mm512_loadu_ps(b + j + 16));
    const __m512 x2 = _mm512_sub_ps(_mm512_loadu_ps(a + j + 32), _mm512_loadu_ps(b + j + 32));
    const __m512 x3 = _mm512_sub_ps(_mm512_loadu_ps(a + j + 48), _mm512_loadu_ps(b + j + 48));
    s0 = _mm512_fmadd_ps(x0, x0, s0);
    s1 = _mm512_fmadd_ps(x1, x1, s1);
    s2 = _mm512_fmadd_ps(x2, x2, s2);
    s3 = _mm512_fmadd_ps(x3, x3, s3);
  }
  for (; j < d; j += 16) {
    const int64_t n = std::min<int64_t>(16, d - j);
    const __mmask16 live = static_cast<__mmask16>((1u << n) - 1u);
    const __m512 x =
        _mm512_sub_ps(_mm512_maskz_loadu_ps(live, a + j), _mm512_maskz_loadu_ps(live, b + j));
    s0 = _mm512_fmadd_ps(x, x, s0);
  }
  // A store and a scalar tree rather than _mm512_reduce_add_ps, which trips GCC 12's
  // -Wuninitialized inside its own header.
  alignas(64) float l[16];
  _mm512_store_ps(l, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  return (((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))) +
         (((l[8] + l[9]) + (l[10] + l[11])) + ((l[12] + l[13]) + (l[14] + l[15])));
}

__attribute__((target("avx2,fma"))) void scan_avx2(const float* ip, const float* bn,
                                                    int64_t cols, int64_t first, RowHeap& h) {
  const __m256 minus2 = _mm256_set1_ps(-2.0f);
  __m256 thr = _mm256_set1_ps(h.threshold);
  alignas(32) float t[32];
  int64_t j = 0;
  for (; j + 32 <= cols; j += 32) {
    __m256 v[4];
    uint64_t hits = 0;
    for (int l = 0; l < 4; ++l) {
      v[l] = _mm256_fmadd_ps(_mm256_loadu_ps(ip + j + 8 * l), minus2,
                             _mm256_loadu_ps(bn + j + 8 * l));
      hits |= uint64_t(_mm256_movemask_ps(_mm256_cmp_ps(v[l], thr, _CMP_LT_OQ))) << (8 * l);
    }
    if (hits == 0) continue;
    for (int l = 0; l < 4; ++l) _mm256_store_ps(t + 8 * l, v[l]);
    offer_hits(t, hits, first + j, h);
    thr = _mm256_set1_ps(h.threshold);
  }
  for (; j < cols; ++j) {
    const float v = bn[j] - 2.0f * ip[j];
    if (v < h.threshold) heap_insert(h, v, first + j);
  }
}

__attribute__((target("avx2"))) void scan_i32_avx2(const int32_t* ip, const int32_t* bn,
                                                    int64_t cols, int64_t first,
                                                    RowHeapOf<int32_t>& h) {
  __m256i thr = _mm256_set1_epi32(h.threshold);
  alignas(32) int32_t t[32];
  int64_t j = 0;
  for (; j + 32 <= cols; j += 32) {
    __m256i v[4];
    uint64_t hits = 0;
    for (int l = 0; l < 4; ++l) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ip + j + 8 * l));
      v[l] = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bn + j + 8 * l)),
                              _mm256_add_epi32(x, x));
      const __m256i lt = _mm256_cmpgt_epi32(thr, v[l]);
      hits |= uint64_t(_mm256_movemask_ps(_mm256_castsi256_ps(lt))) << (8 * l);
    }
    if (hits == 0) continue;
    for (int l = 0; l < 4; ++l) _mm256_store_si256(reinterpret_cast<__m256i*>(t + 8 * l), v[l]);
    offer_hits(t, hits, first + j, h);
    thr = _mm256_set1_epi32(h.threshold);
  }
  for (; j < cols; ++j) {
    const int32_t v = bn[j] - 2 * ip[j];
    if (v < h.threshold) heap_insert(h, v, first + j);
  }
}

__attribute__((target("avx2,fma"))) float sqdist_avx2(const float* a, const float* b, int64_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t j = 0;
  for (; j + 32 <= d; j += 32) {
    const __m256 x0 = _mm256_sub_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j));
    const __m256 x1 = _mm256_sub_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8));
    const __m256 x2 = _mm256_sub_ps(_mm256_loadu_ps(a + j + 16), _mm256_loadu_ps(b + j + 16));
    const __m256 x3 = _mm256_sub_ps(_mm256_loadu_ps(a + j + 24), _mm256_loadu_ps(b + j + 24));
    s0 = _mm256_fmadd_ps(x0, x0, s0);
    s1 = _mm256_fmadd_ps(x1, x1, s1);
    s2 = _mm256_fmadd_ps(x2, x2, s2);
    s3 = _mm256_fmadd_ps(x3, x3, s3);
  }
  for (; j + 8 <= d; j += 8) {
    const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j));
    s0 = _mm256_fmadd_ps(x, x, s0);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  float tail = 0;
  for (; j < d; ++j) tail += (a[j] - b[j]) * (a[j] - b[j]);
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
         ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) + tail;
}
#endif

const Kernels kScalar{scan_scalar, sqdist_scalar, scan_i32_scalar, "scalar"};
#ifdef DIFFMEM_KNN_X86
const Kernels kAvx2{scan_avx2, sqdist_avx2, scan_i32_avx2, "avx2"};
const Kernels kAvx512{scan_avx512, sqdist_avx512, scan_i32_avx512, "avx512"};
#endif

}  // namespace

const Kernels* kernels_for(const char* isa) {
  if (std::strcmp(isa, "scalar") == 0) return &kScalar;
#ifdef DIFFMEM_KNN_X86
  if (std::strcmp(isa, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma")) {
    return &kAvx2;
  }
  if (std::strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512f")) return &kAvx512;
#endif
  return nullptr;
}

const Kernels& kernels() {
  static const Kernels* best = [] {
    for (const char* isa : {"avx512", "avx2"}) {
      if (const Kernels* k = kernels_for(isa)) return k;
    }
    return &kScalar;
  }();
  return *best;
}

}  // namespace diffmem::search::detail
