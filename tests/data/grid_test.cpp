#include "diffmem/data/grid.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"

namespace diffmem::data {
namespace {

// Three 2×2 gray images filled with 10, 20, 30.
Dataset three_images() {
  Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {3, 2, 2, 1});
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 4; ++k) ds.images.bytes[i * 4 + k] = uint8_t(10 * (i + 1));
  ds.labels = {0, 1, 2};
  ds.ids = {0, 1, 2};
  return ds;
}

uint8_t at(const io::HostArray& g, int64_t y, int64_t x) {
  return g.bytes[(y * g.shape[1] + x) * g.shape[2]];
}

TEST(Grid, TilesTheFirstNImagesRowMajor) {
  GridOptions o;
  o.cols = 2;
  o.pad = 1;
  io::HostArray g = dataset_grid(three_images(), o);
  // 2 rows × 2 cols of 2×2 tiles with 1-pixel padding: 2*(2+1)+1 = 7.
  ASSERT_EQ(g.shape, (std::vector<int64_t>{7, 7, 1}));
  EXPECT_EQ(at(g, 0, 0), 255);
  EXPECT_EQ(at(g, 1, 1), 10);
  EXPECT_EQ(at(g, 2, 2), 10);
  EXPECT_EQ(at(g, 1, 4), 20);
  EXPECT_EQ(at(g, 4, 1), 30);
  EXPECT_EQ(at(g, 4, 4), 255);  // the unused fourth cell
  EXPECT_EQ(at(g, 3, 1), 255);
}

TEST(Grid, IndicesChooseAndOrderTheTilesAndScaleMagnifies) {
  GridOptions o;
  o.indices = {2, 0};
  o.cols = 8;
  o.pad = 0;
  o.scale = 3;
  io::HostArray g = dataset_grid(three_images(), o);
  ASSERT_EQ(g.shape, (std::vector<int64_t>{6, 12, 1}));  // 1 row of 2 tiles, each 2×2 ×3
  EXPECT_EQ(at(g, 0, 0), 30);
  EXPECT_EQ(at(g, 5, 5), 30);
  EXPECT_EQ(at(g, 5, 6), 10);
  EXPECT_EQ(grid_rows(three_images(), o), (std::vector<int64_t>{2, 0}));
}

TEST(Grid, FewerImagesThanNAndBadIndices) {
  GridOptions o;
  o.n = 64;
  EXPECT_EQ(grid_rows(three_images(), o).size(), 3u);
  o.indices = {1, 3};
  try {
    dataset_grid(three_images(), o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[0, 3)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("found 3"), std::string::npos) << e.what();
  }
  o.indices.clear();
  o.cols = 0;
  EXPECT_THROW(dataset_grid(three_images(), o), Error);
}

}  // namespace
}  // namespace diffmem::data
