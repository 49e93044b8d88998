#pragma once
// A look at a data set: some of its images tiled into one PNG (`diffmem data show`).
#include <cstdint>
#include <vector>

#include "diffmem/data/dataset.h"
#include "diffmem/io/array.h"
#include "diffmem/io/fields.h"

namespace diffmem::data {

struct GridOptions {
  int64_t n = 64;                // the first n images, when no indices are given
  std::vector<int64_t> indices;  // rows to show, in this order (overrides n)
  int cols = 8;                  // tiles per row
  int pad = 2;                   // pixels between and around tiles
  int scale = 1;                 // nearest-neighbour magnification of the whole grid
};

DIFFMEM_FIELDS(GridOptions, n, indices, cols, pad, scale)

/// The rows a grid shows (indices, or the first min(n, N)); throws naming the bad index.
std::vector<int64_t> grid_rows(const Dataset& ds, const GridOptions& o);

/// io::make_grid of the rows (white padding), magnified by `scale`: U8 [GH, GW, C].
io::HostArray dataset_grid(const Dataset& ds, const GridOptions& o);

}  // namespace diffmem::data
