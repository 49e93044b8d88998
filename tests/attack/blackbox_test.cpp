#include "diffmem/attack/blackbox.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "diffmem/core/error.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"
#include "diffmem/attack/blackbox_distances.h"
#include "diffmem/attack/blackbox_run.h"
#include "diffmem/search/int_gram.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {

// Calls fn(r0, r1, c0, c1) for each non-empty tile of an h × w image cut into grid × grid: tile
// (i,j) covers rows floor(i*H/G)..floor((i+1)*H/G) and the same for columns.
template <typename Fn>
void for_each_tile(int64_t h, int64_t w, int64_t grid, Fn fn) {
  for (int64_t ti = 0; ti < grid; ++ti) {
    for (int64_t tj = 0; tj < grid; ++tj) {
      const int64_t r0 = ti * h / grid, r1 = (ti + 1) * h / grid;
      const int64_t c0 = tj * w / grid, c1 = (tj + 1) * w / grid;
      if (r1 > r0 && c1 > c0) fn(r0, r1, c0, c1);
    }
  }
}

// Tiled ℓ2 of two [H,W,C] u8 images by a plain loop in double precision: the worst tile's RMS.
double naive_tiled_l2(const torch::Tensor& a, const torch::Tensor& b, int64_t grid) {
  const int64_t h = a.size(0), w = a.size(1), c = a.size(2);
  const uint8_t* pa = a.contiguous().data_ptr<uint8_t>();
  const uint8_t* pb = b.contiguous().data_ptr<uint8_t>();
  double worst = 0;
  for_each_tile(h, w, grid, [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    double s = 0;
    for (int64_t y = r0; y < r1; ++y)
      for (int64_t x = c0; x < c1; ++x)
        for (int64_t k = 0; k < c; ++k) {
          const double d = (pa[(y * w + x) * c + k] - pb[(y * w + x) * c + k]) / 255.0;
          s += d * d;
        }
    worst = std::max(worst, s / double((r1 - r0) * (c1 - c0) * c));
  });
  return std::sqrt(worst);
}

// The same from exact integer sums per tile, rounded as the integer path rounds.
float exact_tiled_l2(const torch::Tensor& a, const torch::Tensor& b, int64_t grid) {
  const int64_t c = a.size(2);
  const torch::Tensor diff = a.to(torch::kLong) - b.to(torch::kLong);
  double worst = 0;
  for_each_tile(a.size(0), a.size(1), grid, [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    const torch::Tensor t = diff.slice(0, r0, r1).slice(1, c0, c1);
    const int64_t sqd = t.mul(t).sum().item<int64_t>();
    worst = std::max(worst, double(sqd) / double((r1 - r0) * (c1 - c0) * c));
  });
  return static_cast<float>(std::sqrt(worst / (255.0 * 255.0)));
}

torch::Tensor random_images(int64_t n, int64_t size, uint64_t seed) {
  torch::manual_seed(seed);
  // 4×4-pixel colour blocks, upsampled, so images look like images rather than white noise.
  torch::Tensor small = torch::randint(0, 256, {n, size / 4, size / 4, 3}, torch::kLong);
  return small.repeat_interleave(4, 1).repeat_interleave(4, 2).to(torch::kByte);
}

torch::Tensor near_copies(const torch::Tensor& base, int64_t n, int64_t amplitude, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor noise = torch::randint(-amplitude, amplitude + 1, {n, base.size(0), base.size(1), base.size(2)},
                                       torch::kLong);
  return (base.to(torch::kLong).unsqueeze(0) + noise).clamp(0, 255).to(torch::kByte);
}

class BlackboxDistances : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(BlackboxDistances, IntegerPathIsExactAndAgreesWithFloat) {
  if (!search::int_gram_kernel().available) GTEST_SKIP() << search::int_gram_kernel().reason;
  const auto [h, w] = GetParam();
  torch::Tensor imgs = torch::cat({random_images(5, 32, 4).slice(1, 0, h).slice(2, 0, w),
                                   near_copies(random_images(1, 32, 5)[0].slice(0, 0, h).slice(1, 0, w), 4, 20, 6),
                                   torch::zeros({1, h, w, 3}, torch::kByte),
                                   torch::full({1, h, w, 3}, 255, torch::kByte)})
                           .contiguous();
  const int64_t n = imgs.size(0);
  const torch::Tensor di = self_pairwise_tiled_l2(imgs, {}, search::KnnArithmetic::kInteger);
  const torch::Tensor df = self_pairwise_tiled_l2(imgs, {}, search::KnnArithmetic::kFloat);
  ASSERT_EQ(di.sizes().vec(), (std::vector<int64_t>{n, n}));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      ASSERT_EQ(di[i][j].item<float>(), exact_tiled_l2(imgs[i], imgs[j], 4)) << i << "," << j;
    }
  }
  EXPECT_EQ(di[n - 2][n - 1].item<float>(), 1.0f);  // black against white
  EXPECT_LT((di - df).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::equal(self_pairwise_tiled_l2(imgs), di));  // auto takes the integer path
}

// Tiles past the oneDNN path's longest product, and images on a GPU, take the LibTorch integer
// path (float64 products on the CPU, int8 tensor cores on a GPU with LibTorch ≥ 2.2): still exact.
TEST(BlackboxDistancesTorch, LongTilesAreExact) {
  torch::Tensor imgs = torch::cat({random_images(3, 152, 7), torch::zeros({1, 152, 152, 3}, torch::kByte),
                                   torch::full({1, 152, 152, 3}, 255, torch::kByte)})
                           .contiguous();
  const search::TiledOptions one{1};  // one 152×152×3 = 69,312-value tile
  const torch::Tensor d = self_pairwise_tiled_l2(imgs, one, search::KnnArithmetic::kInteger);
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      ASSERT_EQ(d[i][j].item<float>(), exact_tiled_l2(imgs[i], imgs[j], 1)) << i << "," << j;
    }
  }
}

TEST(BlackboxDistancesTorch, GpuImagesAreExact_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::Tensor imgs = torch::cat({random_images(3, 32, 8), torch::zeros({1, 32, 32, 3}, torch::kByte),
                                   torch::full({1, 32, 32, 3}, 255, torch::kByte)});
  const torch::Tensor small = imgs.slice(1, 0, 30).slice(2, 0, 22).contiguous();
  const torch::Tensor gpu = self_pairwise_tiled_l2(small.cuda(), {}, search::KnnArithmetic::kInteger);
  EXPECT_TRUE(gpu.is_cuda());
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      ASSERT_EQ(gpu[i][j].item<float>(), exact_tiled_l2(small[i], small[j], 4)) << i << "," << j;
    }
  }
}

// 32×32: equal tiles; 30×22: unequal tiles (4 divides neither), cut like search::tile_bounds.
TEST_P(BlackboxDistances, MatchANaivePerPairLoop) {
  const auto [h, w] = GetParam();
  torch::Tensor imgs = torch::cat({random_images(6, 32, 1).slice(1, 0, h).slice(2, 0, w),
                                   near_copies(random_images(1, 32, 2)[0].slice(0, 0, h).slice(1, 0, w), 4, 20, 3)})
                           .contiguous();
  BlackboxOptions o;
  const torch::Tensor x = search::to_unit_rows(imgs);
  EXPECT_LT((group_distances(imgs, o) - search::pairwise_tiled_l2(x, x, {h, w, 3}, o.tiles)).abs().max().item<double>(),
            2e-3);
  const torch::Tensor d = group_distances(imgs, o);
  ASSERT_EQ(d.sizes().vec(), (std::vector<int64_t>{10, 10}));
  // Off the diagonal the GEMM form agrees closely with the direct sum; an image against itself is
  // exactly 0 (no square root of a cancellation residue).
  double max_err = 0, max_diag = 0;
  for (int64_t i = 0; i < 10; ++i)
    for (int64_t j = 0; j < 10; ++j) {
      const double e = std::abs(d[i][j].item<double>() - naive_tiled_l2(imgs[i], imgs[j], 4));
      (i == j ? max_diag : max_err) = std::max(i == j ? max_diag : max_err, e);
    }
  EXPECT_LT(max_err, 1e-4);
  EXPECT_EQ(max_diag, 0.0);
  o.tiles.grid = 3;  // 3 divides neither 32 nor 22 nor 30: unequal tiles in every shape
  const torch::Tensor d3 = group_distances(imgs, o);
  for (int64_t j : {1, 7, 9}) EXPECT_NEAR(d3[0][j].item<double>(), naive_tiled_l2(imgs[0], imgs[j], 3), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BlackboxDistances,
                         ::testing::Values(std::make_pair<int64_t, int64_t>(32, 32),
                                           std::make_pair<int64_t, int64_t>(30, 22)));

TEST(Blackbox, FindsThePlantedCliqueAndItsMedoid) {
  const torch::Tensor base = random_images(1, 32, 10)[0];
  const torch::Tensor copies = near_copies(base, 12, 6, 11);
  const torch::Tensor others = random_images(20, 32, 12);
  // Shuffled so that the clique is not a prefix.
  torch::manual_seed(13);
  const torch::Tensor perm = torch::randperm(32, torch::kLong);
  const torch::Tensor imgs = torch::cat({copies, others}).index_select(0, perm);
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < 32; ++i)
    if (perm[i].item<int64_t>() < 12) expected.push_back(i);
  BlackboxOptions o;
  const GroupAnalysis a = analyze_group(imgs, o, base);
  ASSERT_EQ(a.cliques.size(), 1u);
  const CliqueFinding& c = a.cliques[0];
  EXPECT_EQ(c.members, expected);
  EXPECT_TRUE(a.flagged);
  EXPECT_TRUE(c.flagged);
  // Mean in-clique distance and the medoid, recomputed by hand.
  double total = 0;
  int64_t pairs = 0, medoid = -1;
  double best = 1e9;
  for (int64_t i : c.members) {
    double s = 0;
    for (int64_t j : c.members)
      if (i != j) s += naive_tiled_l2(imgs[i], imgs[j], 4);
    if (s < best - 1e-9) {
      best = s;
      medoid = i;
    }
    total += s;
    pairs += static_cast<int64_t>(c.members.size()) - 1;
  }
  EXPECT_NEAR(c.mean_distance, total / pairs, 1e-4);
  EXPECT_EQ(c.medoid, medoid);
  const double l2 = (imgs[medoid].to(torch::kDouble) - base.to(torch::kDouble)).div(255).square().mean().sqrt().item<double>();
  EXPECT_NEAR(a.train_l2, l2, 1e-5);
  EXPECT_TRUE(a.within_delta);
  const GroupAnalysis wrong = analyze_group(imgs, o, random_images(1, 32, 99)[0]);
  EXPECT_GT(wrong.train_l2, 0.15);
  EXPECT_FALSE(wrong.within_delta);
  EXPECT_THROW(analyze_group(imgs, o, random_images(1, 16, 99)[0]), Error);
}

TEST(Blackbox, SmallCliqueIsNotFlagged) {
  const torch::Tensor imgs = torch::cat({random_images(10, 32, 20), near_copies(random_images(1, 32, 21)[0], 5, 5, 22)});
  BlackboxOptions o;
  const GroupAnalysis a = analyze_group(imgs, o);
  EXPECT_FALSE(a.flagged);
  EXPECT_EQ(a.cliques.at(0).members, (std::vector<int64_t>{10, 11, 12, 13, 14}));
  EXPECT_EQ(a.train_l2, -1);
  o.min_clique = 5;
  EXPECT_TRUE(analyze_group(imgs, o).flagged);
}

TEST(Blackbox, PeelsSeveralCliquesAndPrefersTheTightestOfEqualSize) {
  // Two clusters of 10: a loose one (±40) first and a tight one (±5) second; then 8 loners.
  const torch::Tensor loose = near_copies(random_images(1, 32, 30)[0], 10, 40, 31);
  const torch::Tensor tight = near_copies(random_images(1, 32, 32)[0], 10, 5, 33);
  const torch::Tensor imgs = torch::cat({loose, tight, random_images(8, 32, 34)});
  BlackboxOptions o;
  o.edge_threshold = 0.2;
  o.min_clique = 10;
  const GroupAnalysis one = analyze_group(imgs, o);
  ASSERT_EQ(one.cliques.size(), 1u);
  EXPECT_EQ(one.cliques[0].members.front(), 10);  // the tight cluster wins the tie
  o.max_cliques = 0;
  const GroupAnalysis all = analyze_group(imgs, o);
  ASSERT_EQ(all.cliques.size(), 2u);
  EXPECT_EQ(all.cliques[0].members.front(), 10);
  EXPECT_EQ(all.cliques[1].members.front(), 0);
  EXPECT_LT(all.cliques[0].mean_distance, all.cliques[1].mean_distance);
}

TEST(Blackbox, EmptyAndSingleImageGroups) {
  BlackboxOptions o;
  EXPECT_TRUE(analyze_group(torch::empty({0, 8, 8, 3}, torch::kByte), o).cliques.empty());
  const GroupAnalysis one = analyze_group(random_images(1, 8, 1), o);
  ASSERT_EQ(one.cliques.size(), 1u);
  EXPECT_EQ(one.cliques[0].members, std::vector<int64_t>{0});
  EXPECT_TRUE(std::isnan(one.cliques[0].mean_distance));
  o.min_clique = 0;
  EXPECT_THROW(analyze_group(random_images(2, 8, 1), o), Error);
}

TEST(Blackbox, FolderOfMixedSizesIsResizedToTheWorkingSize) {
  test::TempDir dir;
  io::write_png(dir / "b.png", io::from_tensor(random_images(1, 32, 40)[0]));
  io::write_png(dir / "a.png", io::from_tensor(random_images(1, 48, 41)[0]));
  io::write_png(dir / "c.PNG", io::from_tensor(random_images(1, 16, 42)[0].select(2, 0).contiguous()));
  io::write_png(dir / ".000001.tmp-7.png", io::from_tensor(random_images(1, 16, 43)[0]));
  test::write_bytes(dir / "notes.txt", "not an image");
  BlackboxOptions o;
  LoadedGroup g = load_image_folder(dir.path(), o);
  ASSERT_EQ(g.files.size(), 3u);
  EXPECT_EQ(g.files[0].filename(), "a.png");
  EXPECT_EQ(g.images.sizes().vec(), (std::vector<int64_t>{3, 48, 48, 3}));  // the first file's size
  // The grey image is replicated to three channels.
  EXPECT_TRUE(g.images[2].select(2, 0).equal(g.images[2].select(2, 2)));
  o.size = 24;
  g = load_image_folder(dir.path(), o);
  EXPECT_EQ(g.images.sizes().vec(), (std::vector<int64_t>{3, 24, 24, 3}));
  const torch::Tensor expect = io::to_tensor(io::resize_image(io::from_tensor(random_images(1, 32, 40)[0]), 24, 24));
  EXPECT_TRUE(g.images[1].equal(expect));
  test::write_bytes(dir / "d.png", "\x89PNG\r\n\x1a\ntruncated");
  try {
    load_image_folder(dir.path(), o);
    FAIL() << "a corrupt PNG was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("d.png"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_image_folder(dir / "missing", o), Error);
}

TEST(Blackbox, NpyArraysInAFolderAreReadWithoutDecoding) {
  test::TempDir dir;
  const torch::Tensor batch = random_images(2, 32, 50);
  io::write_png(dir / "a.png", io::from_tensor(random_images(1, 32, 51)[0]));
  io::write_npy(dir / "b.npy", io::from_tensor(batch));
  io::write_npy(dir / "c.NPY", io::from_tensor(random_images(1, 16, 52)[0].narrow(2, 0, 1).contiguous()));
  BlackboxOptions o;
  LoadedGroup g = load_image_folder(dir.path(), o);
  ASSERT_EQ(g.files.size(), 3u);
  EXPECT_EQ(g.images.sizes().vec(), (std::vector<int64_t>{4, 32, 32, 3}));
  EXPECT_EQ(g.labels, (std::vector<std::string>{"a.png", "b.npy#0", "b.npy#1", "c.NPY#0"}));
  EXPECT_TRUE(g.images.narrow(0, 1, 2).equal(batch));  // the array's bytes, untouched
  EXPECT_TRUE(g.images[3].select(2, 0).equal(g.images[3].select(2, 2)));  // grey replicated
  // An array first sets the working size; a float array is refused by name.
  test::TempDir only;
  io::write_npy(only / "x.npy", io::from_tensor(random_images(3, 16, 53)));
  EXPECT_EQ(load_image_folder(only.path(), o).images.sizes().vec(), (std::vector<int64_t>{3, 16, 16, 3}));
  io::write_npy(only / "y.npy", io::from_tensor(torch::rand({2, 16, 16, 3})));
  try {
    load_image_folder(only.path(), o);
    FAIL() << "a float array was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("y.npy"), std::string::npos) << e.what();
  }
}

namespace fs = std::filesystem;

// Folder groups read one ahead give the same rows as read in turn, and a bad file in a later
// group still stops the run with its name, after the earlier groups' results are written.
TEST(Blackbox, ReadAheadChangesNothingButTime) {
  test::TempDir dir;
  std::vector<BlackboxGroupInput> groups;
  for (int g = 0; g < 4; ++g) {
    const fs::path folder = dir / ("g" + std::to_string(g));
    fs::create_directories(folder);
    const torch::Tensor imgs = g % 2 == 0 ? near_copies(random_images(1, 32, 60 + g)[0], 12, 6, 70 + g)
                                          : random_images(12, 32, 80 + g);
    io::write_npy(folder / "shard.npy", io::from_tensor(imgs));
    BlackboxGroupInput in;
    in.id = "g" + std::to_string(g);
    in.folder = folder;
    groups.push_back(in);
  }
  BlackboxRunOptions ro;
  ro.analysis.min_clique = 10;
  ro.reuse = false;
  ro.read_ahead = false;
  const BlackboxRunResult serial = run_blackbox(groups, dir / "serial", ro);
  ro.read_ahead = true;
  const BlackboxRunResult ahead = run_blackbox(groups, dir / "ahead", ro);
  EXPECT_EQ(serial.flagged, 2);
  ASSERT_EQ(ahead.rows.size(), serial.rows.size());
  for (size_t i = 0; i < ahead.rows.size(); ++i) {
    EXPECT_EQ(ahead.rows[i].input.id, serial.rows[i].input.id);
    EXPECT_EQ(ahead.rows[i].labels, serial.rows[i].labels);
    EXPECT_EQ(ahead.rows[i].analysis.flagged, serial.rows[i].analysis.flagged);
    ASSERT_EQ(ahead.rows[i].analysis.cliques.size(), serial.rows[i].analysis.cliques.size());
    EXPECT_EQ(ahead.rows[i].analysis.cliques[0].members, serial.rows[i].analysis.cliques[0].members);
    const double a = ahead.rows[i].analysis.cliques[0].mean_distance;
    const double b = serial.rows[i].analysis.cliques[0].mean_distance;
    EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << a << " vs " << b;  // NaN: one member
  }
  io::write_npy(dir / "g3" / "shard.npy", io::from_tensor(torch::rand({2, 32, 32, 3})));
  try {
    run_blackbox(groups, dir / "bad", ro);
    FAIL() << "a float array was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard.npy"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(dir / "bad" / "groups" / "g2.json"));
}

TEST(Blackbox, ToWorkingSizeResizesShards) {
  const torch::Tensor imgs = random_images(3, 32, 50);
  BlackboxOptions o;
  EXPECT_TRUE(to_working_size(imgs, o).equal(imgs));
  o.size = 16;
  const torch::Tensor r = to_working_size(imgs, o);
  ASSERT_EQ(r.sizes().vec(), (std::vector<int64_t>{3, 16, 16, 3}));
  EXPECT_TRUE(r[2].equal(io::to_tensor(io::resize_image(io::from_tensor(imgs[2]), 16, 16))));
}

}  // namespace
}  // namespace diffmem::attack
