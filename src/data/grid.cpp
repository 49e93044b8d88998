#include "diffmem/data/grid.h"

#include <algorithm>
#include <cstring>

#include "diffmem/core/error.h"
#include "diffmem/io/image_file.h"
#include "image_ops.h"

namespace diffmem::data {

std::vector<int64_t> grid_rows(const Dataset& ds, const GridOptions& o) {
  if (!o.indices.empty()) {
    for (int64_t i : o.indices)
      check(i >= 0 && i < ds.size(), "show indices",
            "indices in [0, " + std::to_string(ds.size()) + ")", std::to_string(i));
    return o.indices;
  }
  check(o.n > 0, "show n", "n > 0", std::to_string(o.n));
  std::vector<int64_t> rows(static_cast<size_t>(std::min(o.n, ds.size())));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  return rows;
}

io::HostArray dataset_grid(const Dataset& ds, const GridOptions& o) {
  check(o.cols > 0, "show cols", "cols > 0", std::to_string(o.cols));
  check(o.pad >= 0, "show pad", "pad >= 0", std::to_string(o.pad));
  check(o.scale >= 1 && o.scale <= 16, "show scale", "a scale in [1, 16]",
        std::to_string(o.scale));
  const std::vector<int64_t> rows = grid_rows(ds, o);
  check(!rows.empty(), "show", "a data set with images", "none");
  io::HostArray tiles = io::HostArray::zeros(
      io::DType::kU8,
      {static_cast<int64_t>(rows.size()), ds.height(), ds.width(), ds.channels()});
  const size_t bytes = static_cast<size_t>(ds.image_bytes());
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(tiles.bytes.data() + i * bytes, ds.image(rows[i]), bytes);
  const int cols = static_cast<int>(std::min<int64_t>(o.cols, rows.size()));
  return upscale_nearest(io::make_grid(tiles, cols, o.pad), o.scale);
}

}  // namespace diffmem::data
