// White-box extraction on synthetic data: a training set with planted copies, generations that are
// exact or noised copies of known rows plus unrelated images; every number checked against a naive
// double-precision loop written here.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "diffmem/attack/extract.h"
#include "diffmem/core/error.h"
#include "diffmem/data/dataset.h"
#include "diffmem/data/generations.h"
#include "diffmem/io/image_file.h"
#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;

constexpr int64_t kH = 8, kW = 8, kC = 1, kD = kH * kW * kC;
using Image = std::vector<uint8_t>;

Image random_image(std::mt19937& rng) {
  Image im(kD);
  std::uniform_int_distribution<int> u(0, 255);
  for (auto& v : im) v = static_cast<uint8_t>(u(rng));
  return im;
}

Image noised(const Image& src, int amp, std::mt19937& rng) {
  Image im = src;
  std::uniform_int_distribution<int> u(-amp, amp);
  for (auto& v : im) v = static_cast<uint8_t>(std::clamp(int(v) + u(rng), 0, 255));
  return im;
}

double naive_l2(const Image& a, const Image& b) {
  double s = 0;
  for (int64_t i = 0; i < kD; ++i) {
    const double d = (a[i] - b[i]) / 255.0;
    s += d * d;
  }
  return std::sqrt(s / kD);
}

// 4×4 grid on 8×8: 2×2-pixel tiles, max of their normalized ℓ2.
double naive_tiled(const Image& a, const Image& b) {
  double best = 0;
  for (int ti = 0; ti < 4; ++ti)
    for (int tj = 0; tj < 4; ++tj) {
      double s = 0;
      for (int y = 2 * ti; y < 2 * ti + 2; ++y)
        for (int x = 2 * tj; x < 2 * tj + 2; ++x) {
          const double d = (a[y * kW + x] - b[y * kW + x]) / 255.0;
          s += d * d;
        }
      best = std::max(best, std::sqrt(s / 4));
    }
  return best;
}

struct Fixture {
  std::vector<Image> train;       // rows
  std::vector<int64_t> ids;       // per row
  std::vector<std::vector<Image>> shards;
  // Distinct images by id; A is planted ×4, B ×2, C ×1, D ×1; E is not planted.
  int64_t a = 100, b = 101, c = 102, d = 103, e = 104;
};

Fixture make_fixture(std::mt19937& rng) {
  Fixture f;
  std::map<int64_t, Image> distinct;
  for (int64_t id = 100; id < 120; ++id) distinct[id] = random_image(rng);
  std::vector<int64_t> order;
  for (int64_t id = 100; id < 120; ++id) order.push_back(id);
  order.insert(order.end(), {f.a, f.a, f.a, f.b});  // A: 4 rows, B: 2 rows
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t id : order) {
    f.train.push_back(distinct[id]);
    f.ids.push_back(id);
  }
  f.shards.resize(2);
  f.shards[0] = {distinct[f.a], noised(distinct[f.c], 3, rng), random_image(rng), random_image(rng),
                 random_image(rng)};
  f.shards[1] = {noised(distinct[f.e], 5, rng), noised(distinct[f.a], 2, rng), random_image(rng),
                 random_image(rng)};
  return f;
}

io::HostArray stack(const std::vector<Image>& images) {
  io::HostArray a = io::HostArray::zeros(io::DType::kU8, {int64_t(images.size()), kH, kW, kC});
  for (size_t i = 0; i < images.size(); ++i) std::copy(images[i].begin(), images[i].end(), a.bytes.begin() + i * kD);
  return a;
}

void write_fixture(const Fixture& f, const fs::path& train_dir, const fs::path& gens) {
  data::Dataset ds;
  ds.images = stack(f.train);
  ds.ids = f.ids;
  ds.labels.assign(f.ids.size(), 0);
  ds.manifest = {{"source", "synthetic"},
                 {"duplicates", {{{"id", f.a}, {"count", 4}}, {{"id", f.b}, {"count", 2}},
                                 {{"id", f.c}, {"count", 1}}, {{"id", f.d}, {"count", 1}}}}};
  data::save_dataset(train_dir, ds);
  int64_t seed = 1000;
  for (size_t s = 0; s < f.shards.size(); ++s) {
    std::vector<int64_t> seeds;
    for (size_t i = 0; i < f.shards[s].size(); ++i) seeds.push_back(seed++);
    data::write_shard(gens, int64_t(s), stack(f.shards[s]), seeds);
  }
}

struct Expected {
  int64_t row = -1;
  double l2 = 0, tiled = 0, calibrated = 0;
};

Expected naive_match(const Fixture& f, const Image& g, int64_t n, double alpha) {
  std::vector<std::pair<double, int64_t>> all;
  for (size_t r = 0; r < f.train.size(); ++r) all.push_back({naive_l2(g, f.train[r]), int64_t(r)});
  std::sort(all.begin(), all.end());
  Expected e;
  e.row = all[0].second;
  e.l2 = all[0].first;
  e.tiled = naive_tiled(g, f.train[e.row]);
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += all[i].first / n;
  e.calibrated = e.l2 == 0 ? 0 : e.l2 / (alpha * mean);
  return e;
}

class Extract : public ::testing::Test {
 protected:
  void SetUp() override {
    f = make_fixture(rng);
    write_fixture(f, tmp / "train", tmp / "gens");
    opt.n_calibration = 5;
  }
  ExtractResult run(const fs::path& out) { return run_extract(tmp / "gens", tmp / "train", out, opt); }

  std::mt19937 rng{7};
  test::TempDir tmp;
  Fixture f;
  ExtractOptions opt;
};

TEST_F(Extract, MatchesAgreeWithANaiveLoopAndFindThePlantedCopies) {
  const ExtractResult r = run(tmp / "out");
  EXPECT_EQ(r.generations, 9);
  EXPECT_EQ(r.shards_computed, 2);
  EXPECT_EQ(r.k, 5);
  const std::vector<Match> m = read_matches_csv(tmp / "out" / "matches.csv");
  ASSERT_EQ(m.size(), 9u);
  int64_t g = 0;
  std::set<int64_t> extracted_ids;
  for (size_t s = 0; s < f.shards.size(); ++s)
    for (size_t i = 0; i < f.shards[s].size(); ++i, ++g) {
      const Expected e = naive_match(f, f.shards[s][i], 5, 0.5);
      const Match& got = m[g];
      EXPECT_EQ(got.generation, g);
      EXPECT_EQ(got.shard, int64_t(s));
      EXPECT_EQ(got.seed, 1000 + g);
      // Exact copies of A tie across its 4 rows: any of them is right, the smallest is promised.
      EXPECT_EQ(f.ids[got.nearest_row], f.ids[e.row]) << "generation " << g;
      EXPECT_EQ(got.nearest_id, f.ids[e.row]);
      if (e.l2 == 0) {
        int64_t first = 0;
        while (f.ids[first] != f.a) ++first;
        EXPECT_EQ(got.nearest_row, first);
      }
      EXPECT_NEAR(got.l2, e.l2, 1e-5) << "generation " << g;
      EXPECT_NEAR(got.tiled_l2, e.tiled, 1e-5) << "generation " << g;
      EXPECT_NEAR(got.calibrated_l2, e.calibrated, 1e-4 * std::max(1.0, e.calibrated)) << "generation " << g;
      EXPECT_EQ(got.extracted, e.l2 <= 0.15) << "generation " << g;
      if (e.l2 <= 0.15) extracted_ids.insert(f.ids[e.row]);
    }
  EXPECT_EQ(extracted_ids, (std::set<int64_t>{f.a, f.c, f.e}));
  EXPECT_EQ(r.extracted_generations, 4);
  ASSERT_EQ(r.unique_extracted, 3);
  std::map<int64_t, ExtractedImage> by_id;
  for (const auto& x : r.extracted) by_id[x.id] = x;
  EXPECT_EQ(by_id[f.a].hits, 2);
  EXPECT_EQ(by_id[f.a].best_l2, 0.0f);
  EXPECT_EQ(by_id[f.a].best_generation, 0);
  EXPECT_EQ(by_id[f.a].copies, 4);
  EXPECT_EQ(by_id[f.a].planted, 4);
  EXPECT_EQ(by_id[f.c].planted, 1);
  EXPECT_EQ(by_id[f.e].planted, -1);
  EXPECT_EQ(by_id[f.e].hits, 1);
  EXPECT_EQ(r.extracted.front().id, f.a);  // best first

  // Fig. 5 rates: ×1: C of {C, D}; ×2: B not; ×4: A.
  ASSERT_EQ(r.rates.size(), 3u);
  EXPECT_EQ(r.rates[0].count, 1);
  EXPECT_EQ(r.rates[0].planted, 2);
  EXPECT_EQ(r.rates[0].extracted, 1);
  EXPECT_DOUBLE_EQ(r.rates[0].rate, 0.5);
  EXPECT_EQ(r.rates[1].count, 2);
  EXPECT_EQ(r.rates[1].extracted, 0);
  EXPECT_EQ(r.rates[2].count, 4);
  EXPECT_DOUBLE_EQ(r.rates[2].rate, 1.0);

  const io::Json s = io::read_json(tmp / "out" / "summary.json");
  EXPECT_EQ(s["generations"], 9);
  EXPECT_EQ(s["unique_extracted"], 3);
  EXPECT_EQ(s["duplicate_rates"][2]["extracted"], 1);
  EXPECT_EQ(s["unplanted"]["images"], 16);
  EXPECT_EQ(s["unplanted"]["extracted"], 1);
  // Bootstrap intervals: ×4 (one image, hit by several generations) stays near 1, ×2 (never hit)
  // is [0, 0]; ×1 (one of two images) spans 0 to 1 once its two images are resampled.
  ASSERT_TRUE(s["duplicate_rates"][2]["rate_ci"].is_array());
  EXPECT_DOUBLE_EQ(s["duplicate_rates"][1]["rate_ci"][1].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(s["duplicate_rates"][0]["rate_ci"][0].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(s["duplicate_rates"][0]["rate_ci"][1].get<double>(), 1.0);
  EXPECT_GT(s["duplicate_rates"][2]["rate_ci"][1].get<double>(), 0.99);
  EXPECT_TRUE(s["unplanted"]["rate_ci"].is_array());
  EXPECT_DOUBLE_EQ(s["extraction_rate"]["rate"].get<double>(), 3.0 / s["train"]["distinct_ids"].get<double>());
  EXPECT_LE(s["extraction_rate"]["rate_ci"][0].get<double>(), s["extraction_rate"]["rate"].get<double>());
  EXPECT_EQ(s["ci"]["resamples"], 1000);
  int64_t binned = 0;
  for (const auto& c : s["histograms"]["l2"]["counts"]) binned += c.get<int64_t>();
  EXPECT_EQ(binned, 9);
  EXPECT_TRUE(fs::exists(tmp / "out" / "options.json"));

  const std::string csv = test::read_bytes(tmp / "out" / "extracted.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "id,row,hits,best_l2,best_generation,best_seed,copies,planted");
  EXPECT_NE(csv.find("\n104,"), std::string::npos);
  EXPECT_NE(csv.find(",1,\n"), std::string::npos);  // E: copies 1, planted empty

  // pairs.png: one pair per distinct nearest image (≤ 9), 4 pairs per row; a pair is 10×19.
  std::set<int64_t> nearest;
  for (const Match& x : m) nearest.insert(x.nearest_id);
  const int64_t p = int64_t(nearest.size());
  const io::HostArray png = io::read_image(tmp / "out" / "pairs.png");
  EXPECT_EQ(png.shape[0], (p + 3) / 4 * (10 + 6) + 6);
  EXPECT_EQ(png.shape[1], std::min<int64_t>(p, 4) * (19 + 6) + 6);
  EXPECT_EQ(s["top_pairs"].size(), size_t(p));
  EXPECT_EQ(s["top_pairs"][0]["id"], f.a);
}

TEST_F(Extract, CalibratedThresholdDecidesWhenSet) {
  // Exact copies score 0; the noised copies of C and E score about 0.05 against random
  // neighbourhoods, so 0.01 keeps only A while δ alone would take three images.
  opt.calibrated_threshold = 0.01;
  const ExtractResult r = run(tmp / "out");
  ASSERT_EQ(r.unique_extracted, 1);
  EXPECT_EQ(r.extracted[0].id, f.a);
  EXPECT_EQ(r.extracted[0].hits, 1);  // the exact copy; the noised copy of A is above 0.01
  const std::vector<Match> m = read_matches_csv(tmp / "out" / "matches.csv");
  int64_t g = 0;
  for (const auto& shard : f.shards)
    for (const Image& im : shard) {
      const Expected e = naive_match(f, im, 5, 0.5);
      EXPECT_EQ(m[g].extracted, e.calibrated <= 0.01) << "generation " << g;
      ++g;
    }
  const io::Json s = io::read_json(tmp / "out" / "summary.json");
  EXPECT_EQ(s["within_delta"], 4);
  EXPECT_EQ(s["criterion"], "calibrated_l2 <= calibrated_threshold");
  EXPECT_EQ(s["n_calibration"], 5);
}

TEST_F(Extract, NoCalibrationLeavesTheColumnEmptyAndCapsNAtTheTrainingSize) {
  opt.n_calibration = 0;
  ExtractResult r = run(tmp / "a");
  EXPECT_EQ(r.k, 1);
  for (const Match& m : read_matches_csv(tmp / "a" / "matches.csv")) EXPECT_TRUE(std::isnan(m.calibrated_l2));
  opt.n_calibration = 1000;  // more than the 24 rows: the mean is over all of them
  r = run(tmp / "b");
  EXPECT_EQ(r.k, 24);
  const std::vector<Match> m = read_matches_csv(tmp / "b" / "matches.csv");
  EXPECT_NEAR(m[2].calibrated_l2, naive_match(f, f.shards[0][2], 24, 0.5).calibrated, 1e-4);
}

int64_t mtime(const fs::path& p) { return fs::last_write_time(p).time_since_epoch().count(); }

TEST_F(Extract, ARerunReusesEveryShardAndOnlyRecomputesWhatChanged) {
  ExtractResult r = run(tmp / "out");
  ASSERT_EQ(r.shards_computed, 2);
  const fs::path s0 = tmp / "out" / "shards" / "matches-00000.csv";
  const fs::path s1 = tmp / "out" / "shards" / "matches-00001.csv";
  const int64_t t0 = mtime(s0), t1 = mtime(s1);
  const std::string matches = test::read_bytes(tmp / "out" / "matches.csv");

  r = run(tmp / "out");
  EXPECT_EQ(r.shards_computed, 0);
  EXPECT_EQ(r.shards_reused, 2);
  EXPECT_EQ(mtime(s0), t0);
  EXPECT_EQ(mtime(s1), t1);
  EXPECT_EQ(test::read_bytes(tmp / "out" / "matches.csv"), matches);
  EXPECT_EQ(r.unique_extracted, 3);

  // δ is applied after the cache: a new δ reuses everything and changes the verdicts.
  opt.delta = 0.0;
  r = run(tmp / "out");
  EXPECT_EQ(r.shards_computed, 0);
  EXPECT_EQ(r.unique_extracted, 1);

  // A new shard is the only one computed; a different α invalidates the cache.
  opt.delta = 0.15;
  data::write_shard(tmp / "gens", 2, stack({f.train[0]}), {5000});
  r = run(tmp / "out");
  EXPECT_EQ(r.shards_computed, 1);
  EXPECT_EQ(r.generations, 10);
  EXPECT_EQ(mtime(s0), t0);
  opt.alpha = 0.25;
  r = run(tmp / "out");
  EXPECT_EQ(r.shards_computed, 3);

  // A regenerated shard (other seeds) is not taken from the cache.
  data::write_shard(tmp / "gens", 2, stack({f.train[1]}), {6000});
  r = run(tmp / "out");
  EXPECT_EQ(r.shards_computed, 1);
  EXPECT_EQ(read_matches_csv(tmp / "out" / "matches.csv").back().seed, 6000);
}

TEST_F(Extract, BadInputsFailWithOneLineNamingThePath) {
  try {
    run_extract(tmp / "nope", tmp / "train", tmp / "out", opt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((tmp / "nope").string()), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  // Generations of another size than the training images.
  io::HostArray big = io::HostArray::zeros(io::DType::kU8, {2, 9, 9, 1});
  data::write_shard(tmp / "gens", 3, big, {1, 2});
  try {
    run(tmp / "out");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find((tmp / "gens" / "images-00003.npy").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("(8, 8, 1)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(9, 9, 1)"), std::string::npos) << msg;
  }
  fs::remove(tmp / "gens" / "images-00003.npy");
  fs::remove(tmp / "gens" / "seeds-00003.npy");
  // An empty folder, a missing training set, a bad option.
  fs::create_directories(tmp / "empty");
  EXPECT_THROW(run_extract(tmp / "empty", tmp / "train", tmp / "o2", opt), Error);
  EXPECT_THROW(run_extract(tmp / "gens", tmp / "missing", tmp / "o3", opt), Error);
  opt.alpha = 0;
  EXPECT_THROW(run(tmp / "o4"), Error);
  // A corrupt matches file is reported with its name and line.
  test::write_bytes(tmp / "bad.csv", "generation,l2\n0,abc\n");
  try {
    read_matches_csv(tmp / "bad.csv");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
  }
}

TEST_F(Extract, CudaGivesTheCpuResults_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const ExtractResult cpu = run(tmp / "cpu");
  opt.device = "cuda";
  const ExtractResult gpu = run(tmp / "gpu");
  EXPECT_EQ(gpu.unique_extracted, cpu.unique_extracted);
  const std::vector<Match> a = read_matches_csv(tmp / "cpu" / "matches.csv");
  const std::vector<Match> b = read_matches_csv(tmp / "gpu" / "matches.csv");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].nearest_id, b[i].nearest_id) << i;
    EXPECT_NEAR(a[i].l2, b[i].l2, 1e-5) << i;
    EXPECT_NEAR(a[i].tiled_l2, b[i].tiled_l2, 1e-5) << i;
    EXPECT_NEAR(a[i].calibrated_l2, b[i].calibrated_l2, 1e-4) << i;
    EXPECT_EQ(a[i].extracted, b[i].extracted) << i;
  }
}

TEST(ExtractOptionsJson, RoundTrips) {
  ExtractOptions o;
  o.delta = 0.1;
  o.calibrated_threshold = 0.3;
  o.n_calibration = 7;
  o.knn.query_block = 64;
  io::Json j = o;
  const ExtractOptions back = io::read_options<ExtractOptions>(j, "options.json");
  EXPECT_DOUBLE_EQ(back.delta, 0.1);
  ASSERT_TRUE(back.calibrated_threshold.has_value());
  EXPECT_DOUBLE_EQ(*back.calibrated_threshold, 0.3);
  EXPECT_EQ(back.n_calibration, 7);
  EXPECT_EQ(back.knn.query_block, 64);
  j = ExtractOptions{};
  EXPECT_TRUE(j["calibrated_threshold"].is_null());
  EXPECT_FALSE(j.contains("reuse")) << "how a run treats its cache is not an option of the result";
  j["delta"] = "0.1";
  EXPECT_NE(test::error_of([&] { io::read_options<ExtractOptions>(j, "options.json"); })
                .find("options.json: delta: expected a number"),
            std::string::npos);
}

}  // namespace
}  // namespace diffmem::attack
