#include "diffmem/search/distances.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffmem/core/error.h"

namespace diffmem::search {
namespace {

// Reference implementations: one pair at a time, double accumulation, straight from the definitions.
double naive_l2(const float* a, const float* b, int64_t d) {
  double s = 0;
  for (int64_t i = 0; i < d; ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(s / d);
}

double naive_tiled(const float* a, const float* b, int64_t h, int64_t w, int64_t c, int64_t g) {
  double worst = 0;
  for (int64_t ti = 0; ti < g; ++ti) {
    for (int64_t tj = 0; tj < g; ++tj) {
      const int64_t r0 = ti * h / g, r1 = (ti + 1) * h / g;
      const int64_t c0 = tj * w / g, c1 = (tj + 1) * w / g;
      double s = 0;
      int64_t count = 0;
      for (int64_t y = r0; y < r1; ++y) {
        for (int64_t x = c0; x < c1; ++x) {
          for (int64_t ch = 0; ch < c; ++ch) {
            const int64_t i = (y * w + x) * c + ch;
            s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
            ++count;
          }
        }
      }
      if (count > 0) worst = std::max(worst, std::sqrt(s / count));
    }
  }
  return worst;
}

torch::Tensor rand_rows(int64_t n, int64_t d, int64_t seed) {
  torch::manual_seed(seed);
  return torch::rand({n, d});
}

TEST(Distances, RowwiseL2MatchesNaive) {
  const torch::Tensor a = rand_rows(7, 37, 1), b = rand_rows(7, 37, 2);
  const torch::Tensor got = l2(a, b);
  ASSERT_EQ(got.sizes(), torch::IntArrayRef({7}));
  for (int64_t i = 0; i < 7; ++i) {
    EXPECT_NEAR(got[i].item<float>(), naive_l2(a[i].data_ptr<float>(), b[i].data_ptr<float>(), 37),
                1e-6);
  }
}

TEST(Distances, PairwiseL2MatchesNaiveAndIsZeroOnTheDiagonal) {
  const torch::Tensor a = rand_rows(9, 50, 3), b = rand_rows(11, 50, 4);
  const torch::Tensor got = pairwise_l2(a, b);
  ASSERT_EQ(got.sizes(), torch::IntArrayRef({9, 11}));
  for (int64_t i = 0; i < 9; ++i) {
    for (int64_t j = 0; j < 11; ++j) {
      EXPECT_NEAR(got[i][j].item<float>(),
                  naive_l2(a[i].data_ptr<float>(), b[j].data_ptr<float>(), 50), 2e-5);
    }
  }
  // Cancellation of ‖a‖²+‖a‖²−2aa must be clamped, never a NaN from sqrt of a negative.
  const torch::Tensor self = pairwise_l2(a, a);
  EXPECT_FALSE(self.isnan().any().item<bool>());
  EXPECT_LT(self.diagonal().max().item<float>(), 1e-3);
}

TEST(Distances, TileBoundsCoverUnevenSizes) {
  EXPECT_EQ(tile_bounds(8, 4), (std::vector<int64_t>{0, 2, 4, 6, 8}));
  EXPECT_EQ(tile_bounds(7, 4), (std::vector<int64_t>{0, 1, 3, 5, 7}));
  EXPECT_EQ(tile_bounds(3, 4), (std::vector<int64_t>{0, 0, 1, 2, 3}));
  EXPECT_EQ(tile_bounds(28, 3), (std::vector<int64_t>{0, 9, 18, 28}));
}

TEST(Distances, TiledL2OfOneChangedPixelIsThatTilesL2) {
  // 8×8×1, 4×4 grid: tiles of 2×2 = 4 pixels. One pixel differs by 1, so the tile holding it has
  // normalized ℓ2 sqrt(1/4) = 0.5 while the whole image has sqrt(1/64) = 0.125.
  torch::Tensor a = torch::zeros({1, 64});
  torch::Tensor b = a.clone();
  b[0][5 * 8 + 3] = 1.0f;
  const ImageShape shape{8, 8, 1};
  EXPECT_FLOAT_EQ(tiled_l2(a, b, shape).item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(l2(a, b).item<float>(), 0.125f);
  EXPECT_FLOAT_EQ(pairwise_tiled_l2(a, b, shape).item<float>(), 0.5f);
  // A 2×2 grid has 16-pixel tiles: sqrt(1/16).
  EXPECT_FLOAT_EQ(tiled_l2(a, b, shape, TiledOptions{2}).item<float>(), 0.25f);
}

TEST(Distances, TiledL2MatchesNaiveOnOddSizes) {
  struct Case { int64_t h, w, c, g; };
  for (const Case& cs : {Case{7, 5, 3, 4}, Case{9, 11, 1, 3}, Case{3, 6, 2, 4}, Case{5, 5, 3, 1}}) {
    const int64_t d = cs.h * cs.w * cs.c;
    const ImageShape shape{cs.h, cs.w, cs.c};
    const TiledOptions opt{cs.g};
    const torch::Tensor a = rand_rows(6, d, 10 + cs.h), b = rand_rows(5, d, 20 + cs.w);
    const torch::Tensor row = tiled_l2(a.narrow(0, 0, 5), b, shape, opt);
    const torch::Tensor pair = pairwise_tiled_l2(a, b, shape, opt);
    ASSERT_EQ(pair.sizes(), torch::IntArrayRef({6, 5}));
    for (int64_t i = 0; i < 6; ++i) {
      for (int64_t j = 0; j < 5; ++j) {
        const double want = naive_tiled(a[i].data_ptr<float>(), b[j].data_ptr<float>(), cs.h,
                                        cs.w, cs.c, cs.g);
        EXPECT_NEAR(pair[i][j].item<float>(), want, 3e-5) << cs.h << "x" << cs.w << "x" << cs.c;
        if (i == j && i < 5) {
          EXPECT_NEAR(row[i].item<float>(), want, 1e-6);
        }
      }
    }
  }
}

TEST(Distances, CalibratedL2HandWorked) {
  // The generation is black; training image i is a flat grey of value v_i, so ℓ2 = v_i exactly.
  // n = 4 nearest: 0.1, 0.2, 0.3, 0.4 (mean 0.25); score = 0.1 / (0.5 * 0.25) = 0.8.
  const std::vector<float> values{0.9f, 0.3f, 0.1f, 0.7f, 0.4f, 0.2f, 0.95f};
  torch::Tensor training = torch::empty({7, 16});
  for (int64_t i = 0; i < 7; ++i) training[i].fill_(values[i]);
  torch::Tensor gen = torch::zeros({2, 16});
  gen[1].fill_(0.3f);  // second generation: a copy of training image 1; its 4-NN are .3,.2,.4,.1
  const CalibratedL2 r = calibrated_l2(gen, training, CalibratedOptions{0.5, 4});
  EXPECT_NEAR(r.l2[0].item<float>(), 0.1f, 1e-6);
  EXPECT_NEAR(r.neighbourhood[0].item<float>(), 0.25f, 1e-6);
  EXPECT_NEAR(r.score[0].item<float>(), 0.8f, 1e-5);
  EXPECT_NEAR(r.l2[1].item<float>(), 0.0f, 1e-6);
  EXPECT_NEAR(r.neighbourhood[1].item<float>(), (0.0f + 0.1f + 0.1f + 0.2f) / 4, 1e-6);
  EXPECT_NEAR(r.score[1].item<float>(), 0.0f, 1e-5);

  // An explicit candidate replaces column 0; alpha scales the denominator.
  const torch::Tensor knn_d = torch::tensor({0.1f, 0.2f, 0.3f, 0.4f, 0.9f}).view({1, 5});
  const CalibratedL2 c =
      calibrated_l2_from_knn(knn_d, CalibratedOptions{0.25, 2}, torch::tensor({0.3f}));
  EXPECT_NEAR(c.score[0].item<float>(), 0.3f / (0.25f * 0.15f), 1e-4);
}

TEST(Distances, UnitRowsScaleBytes) {
  const torch::Tensor img = torch::tensor({0, 255, 51, 102}, torch::kByte).view({1, 2, 2, 1});
  const torch::Tensor rows = to_unit_rows(img);
  ASSERT_EQ(rows.sizes(), torch::IntArrayRef({1, 4}));
  EXPECT_FLOAT_EQ(rows[0][2].item<float>(), 0.2f);
  EXPECT_FLOAT_EQ(rows[0][1].item<float>(), 1.0f);
}

TEST(Distances, OptionsRoundTripThroughJson) {
  nlohmann::json j = TiledOptions{3};
  EXPECT_EQ(j.get<TiledOptions>().grid, 3);
  j = CalibratedOptions{0.25, 7};
  const CalibratedOptions c = j.get<CalibratedOptions>();
  EXPECT_DOUBLE_EQ(c.alpha, 0.25);
  EXPECT_EQ(c.n, 7);
  EXPECT_EQ(nlohmann::json::object().get<CalibratedOptions>().n, 50);
}

TEST(Distances, BadInputNamesTheFunction) {
  const torch::Tensor a = torch::rand({3, 12}), b = torch::rand({3, 10});
  try {
    pairwise_l2(a, b);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("search::pairwise_l2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(l2(a, a.narrow(0, 0, 2)), Error);
  EXPECT_THROW(tiled_l2(a, a, ImageShape{3, 3, 1}), Error);  // 9 != 12
  EXPECT_THROW(l2(a.to(torch::kDouble), a.to(torch::kDouble)), Error);
  EXPECT_THROW(calibrated_l2_from_knn(torch::rand({2, 3}), CalibratedOptions{0.5, 4}), Error);
  EXPECT_THROW(to_unit_rows(a), Error);
}

}  // namespace
}  // namespace diffmem::search
