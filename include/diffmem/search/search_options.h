#pragma once
// The options of the search layer (k-NN, tiled and calibrated ℓ2), torch-free, with their field
// lists (io/fields.h). The functions that use them are in knn.h and distances.h.
#include <cstdint>
#include <string>

#include "diffmem/io/fields.h"

namespace diffmem::search {

/// How each block's candidates are folded into the running top-k.
enum class KnnSelect {
  kAuto,    ///< kFused on CPU, kTopk elsewhere
  kFused,   ///< CPU only: one pass over the block keeping a per-query heap (adds ‖b‖² on the fly);
            ///< keeps the k smallest by (distance, index), so ties at the k-th place go to the
            ///< smaller base index
  kTopk,    ///< torch::topk on each block, then a merge (any device); rows tied at the k-th
            ///< place may be kept in any combination
};
std::string knn_select_name(KnnSelect s);
/// "auto", "fused" or "topk"; throws diffmem::Error naming `where` otherwise.
KnnSelect knn_select_from_name(const std::string& name, const std::string& where);
void to_json(io::Json& j, KnnSelect s);
void from_json(const io::Json& j, KnnSelect& s);

/// Which arithmetic the distances use.
enum class KnnArithmetic {
  kAuto,     ///< kInteger where it applies (uint8 base on the CPU, rows of at most 16,480 values,
             ///< an integer GEMM kernel on this CPU: int_gram.h), kFloat elsewhere
  kFloat,    ///< float32 GEMMs and a float re-check of the survivors
  kInteger,  ///< exact integer GEMMs; an error where they do not apply
};
std::string knn_arithmetic_name(KnnArithmetic a);
/// "auto", "float" or "integer"; throws diffmem::Error naming `where` otherwise.
KnnArithmetic knn_arithmetic_from_name(const std::string& name, const std::string& where);
void to_json(io::Json& j, KnnArithmetic a);
void from_json(const io::Json& j, KnnArithmetic& a);

struct KnnOptions {
  int64_t k = 50;
  /// Queries per GEMM block; 0 picks a default for the device (see default_block_sizes).
  int64_t query_block = 0;
  /// Base rows per GEMM block; 0 picks a default for the device.
  int64_t base_block = 0;
  /// Recompute the k reported distances directly from the vectors.
  bool exact_recheck = true;
  KnnSelect select = KnnSelect::kAuto;
  /// Integer distances for uint8 images (exact; exact_recheck and select then do not apply).
  KnnArithmetic arithmetic = KnnArithmetic::kAuto;
};
DIFFMEM_FIELDS(KnnOptions, k, query_block, base_block, exact_recheck, select, arithmetic)

struct TiledOptions {
  /// Tiles per side. Tile (i,j) covers rows floor(i*H/G) .. floor((i+1)*H/G) (exclusive) and the
  /// same for columns, so every pixel is in exactly one tile even when G does not divide H or W;
  /// tiles that come out empty (H < G) are skipped.
  int64_t grid = 4;
};
DIFFMEM_FIELDS(TiledOptions, grid)

struct CalibratedOptions {
  double alpha = 0.5;  ///< scale of the neighbourhood mean (paper: 0.5)
  int64_t n = 50;      ///< neighbours in the mean (paper: 50), the candidate itself included
};
DIFFMEM_FIELDS(CalibratedOptions, alpha, n)

}  // namespace diffmem::search
