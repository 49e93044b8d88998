#pragma once
// The two inner loops of the CPU k-NN, vectorized for AVX-512 and AVX2 (picked at run time, so
// the library needs no -march flag) with a scalar fallback. Internal to the search layer.
#include <algorithm>
#include <cstdint>

namespace diffmem::search::detail {

/// One kept candidate: its value (float: ‖b‖² − 2 q·b with ‖q‖² omitted, which does not change
/// the order within a query; int32: the same in exact integers, see knn_int.h) and base row.
template <typename V>
struct CandidateOf {
  V value;
  int64_t index;
};
using Candidate = CandidateOf<float>;

/// Lexicographic (value, index): equal values keep the smaller base index. A function object so
/// that the heap and sort algorithms inline it.
struct CandidateLess {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a.value < b.value || (a.value == b.value && a.index < b.index);
  }
};
constexpr CandidateLess candidate_less{};

/// One query's running k best: a max-heap by (value, index) and the value a newcomer must beat.
template <typename V>
struct RowHeapOf {
  CandidateOf<V>* heap;
  int64_t count;
  int64_t k;
  V threshold;  // +inf (INT32_MAX for int32) until the heap is full
};
using RowHeap = RowHeapOf<float>;

/// Adds a candidate known to beat h.threshold. Its index is larger than every index already held
/// (columns arrive in order), so beating the threshold strictly is the whole (value, index) test.
template <typename V>
inline void heap_insert(RowHeapOf<V>& h, V value, int64_t index) {
  if (h.count < h.k) {
    h.heap[h.count++] = CandidateOf<V>{value, index};
    std::push_heap(h.heap, h.heap + h.count, candidate_less);
  } else {
    std::pop_heap(h.heap, h.heap + h.k, candidate_less);
    h.heap[h.k - 1] = CandidateOf<V>{value, index};
    std::push_heap(h.heap, h.heap + h.k, candidate_less);
  }
  if (h.count == h.k) h.threshold = h.heap[0].value;
}

/// Folds one row of a GEMM block: value_j = bn[j] − 2 ip[j] for j < cols, base row first_index+j.
/// NaN values never enter. Every ISA computes value_j with one rounding (−2x is exact), so all
/// kernels keep the same candidates.
using ScanFn = void (*)(const float* ip, const float* bn, int64_t cols, int64_t first_index,
                        RowHeap& h);
/// The integer fold: value_j = bn[j] − 2 ip[j] in int32 (the caller keeps it in range), base row
/// first_index+j.
using ScanI32Fn = void (*)(const int32_t* ip, const int32_t* bn, int64_t cols,
                           int64_t first_index, RowHeapOf<int32_t>& h);
/// ‖a − b‖² over d floats, summed directly (no ‖a‖²+‖b‖²−2ab cancellation).
using SqdistFn = float (*)(const float* a, const float* b, int64_t d);

struct Kernels {
  ScanFn scan;
  SqdistFn sqdist;
  ScanI32Fn scan_i32;
  const char* isa;  // "avx512", "avx2" or "scalar"
};

/// The best kernels this CPU runs; chosen once.
const Kernels& kernels();

/// The kernels of one instruction set ("avx512", "avx2", "scalar"), or nullptr where this CPU
/// (or this build) lacks it: lets the tests hold every variant to the scalar one.
const Kernels* kernels_for(const char* isa);

}  // namespace diffmem::search::detail
