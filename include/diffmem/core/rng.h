#pragma once
// Seeding without torch: every random choice in diffmem derives from one user seed through
// derive_seed, so each item (an image, a model, an example's noise draw) has a seed of its own
// and can be reproduced alone. Rng is a small fixed algorithm (splitmix64), identical everywhere.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace diffmem::core {

/// Mixes a base seed with a stream index into an independent 64-bit seed (splitmix64 finalizer).
uint64_t derive_seed(uint64_t base, uint64_t stream);

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next_u64();
  /// Uniform integer in [0, n); n > 0.
  uint64_t below(uint64_t n);
  /// Uniform double in [0, 1).
  double uniform();
  /// Fisher–Yates shuffle.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  uint64_t state_;
};

/// The first k of a seeded permutation of [0, n): k distinct indices, in the permutation's order.
std::vector<int64_t> sample_without_replacement(int64_t n, int64_t k, uint64_t seed);

}  // namespace diffmem::core
