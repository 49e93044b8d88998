#pragma once
// Exact Gram products of uint8 rows on integer GEMMs (torch-free).
//
// Pixels are 0..255, so every dot product of two images is an integer and an integer GEMM gives it
// exactly, where a float32 GEMM is exact only while the sums stay below 2^24. The kernel is
// oneDNN's u8 × s8 → s32 matmul (AMX-INT8 or AVX-512/AVX VNNI, whatever oneDNN picks on this CPU):
// the right-hand rows are stored shifted, b − 128 as s8 (b XOR 0x80), and the shift is undone
// exactly with a·b = a·(b − 128) + 128·Σa. One int32 product holds |a·(b−128)| ≤ 255·128·K, so
// K ≤ kIntGramMaxK; longer rows go in chunks summed in int64.
//
// CPUs without VNNI/AMX have int8 kernels whose intermediate 16-bit sums saturate (vpmaddubsw),
// so the kernel is used only where oneDNN names a VNNI or AMX implementation and a saturating
// product (255 × −128 over 4,096 values) comes out exact on first use; otherwise available() is
// false and callers keep their float paths.
#include <cstdint>
#include <memory>
#include <string>

namespace diffmem::search {

/// Longest row one int32 product takes: 255·128·65,536 < 2^31.
constexpr int64_t kIntGramMaxK = 65536;

struct IntGramKernel {
  bool available = false;
  std::string name;    ///< e.g. "oneDNN 2.6.3 brg:avx512_core_amx_int8"
  std::string reason;  ///< why it is not available (empty when it is)
};

/// The kernel this process runs, probed once on first call (thread-safe).
const IntGramKernel& int_gram_kernel();

/// Right-hand operand B [n,k] u8 of A·Bᵀ, stored once as b − 128 in the kernel's packed layout
/// (k in chunks of at most kIntGramMaxK), so that repeated products never re-pack it.
/// Requires int_gram_kernel().available. Products may run concurrently from several threads.
class PackedU8Rows {
 public:
  /// rows: n rows of k bytes, row i at rows + i·ld.
  PackedU8Rows(const uint8_t* rows, int64_t n, int64_t k, int64_t ld);
  ~PackedU8Rows();
  PackedU8Rows(PackedU8Rows&&) noexcept;
  PackedU8Rows& operator=(PackedU8Rows&&) noexcept;

  int64_t rows() const;
  int64_t dim() const;
  /// Bytes of packed storage.
  int64_t bytes() const;

  /// out[i·ldo + j] = a_i · (b_j − 128) for m rows a_i = a + i·lda (k bytes each). Requires
  /// dim() ≤ kIntGramMaxK. Exact. On a thread inside an OpenMP parallel region it runs on that
  /// thread alone; elsewhere on OpenMP's threads.
  void gram_shifted(const uint8_t* a, int64_t m, int64_t lda, int32_t* out, int64_t ldo) const;

  /// out[i·ldo + j] = a_i · b_j exactly, for any k.
  void gram(const uint8_t* a, int64_t m, int64_t lda, int64_t* out, int64_t ldo) const;

  struct Impl;  ///< the kernel's storage (int_gram.cpp); public so that its probe can use it

 private:
  std::unique_ptr<Impl> impl_;
};

/// Σ a and Σ a² of one row of k bytes, exact.
struct RowSums {
  int64_t sum = 0;
  int64_t squares = 0;
};
RowSums row_sums(const uint8_t* a, int64_t k);

}  // namespace diffmem::search
