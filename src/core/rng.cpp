#include "diffmem/core/rng.h"

#include <numeric>

#include "diffmem/core/error.h"

namespace diffmem::core {

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t derive_seed(uint64_t base, uint64_t stream) {
  return mix(mix(base + 0x9e3779b97f4a7c15ULL) ^ (stream * 0xd1b54a32d192ed03ULL + 1));
}

uint64_t Rng::next_u64() {
  state_ += 0x9e3779b97f4a7c15ULL;
  return mix(state_);
}

uint64_t Rng::below(uint64_t n) {
  // Rejection sampling keeps the result exactly uniform.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}

double Rng::uniform() { return (next_u64() >> 11) * (1.0 / 9007199254740992.0); }

std::vector<int64_t> sample_without_replacement(int64_t n, int64_t k, uint64_t seed) {
  if (k < 0 || k > n)
    fail("sample_without_replacement", "0 <= k <= " + std::to_string(n), std::to_string(k));
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  Rng rng(seed);
  for (int64_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + rng.below(n - i)]);
  idx.resize(k);
  return idx;
}

}  // namespace diffmem::core
