// `diffmem extract` and `diffmem dedup` as a user runs them, on a Fashion-MNIST subset with planted
// duplicates. No model is trained here: the "generations" are noised copies of chosen training
// images plus pure noise, written as `diffmem sample` writes its shards.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "diffmem/attack/extract.h"
#include "diffmem/data/dataset.h"
#include "diffmem/data/generations.h"
#include "diffmem/data/subset.h"
#include "diffmem/io/json.h"
#include "diffmem/io/npy.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using test::shell_quote;

class ExtractCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(test::kFashionMnist / "train-images-idx3-ubyte.gz")) GTEST_SKIP() << "no " << test::kFashionMnist;
    auto r = test::run_diffmem("data import --from fashion-mnist --limit 200 --out " + test::quoted(tmp / "fm"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = test::run_diffmem("data subset --data " + test::quoted(tmp / "fm") + " --out " + test::quoted(tmp / "sub") +
                          " --n 16 --duplicate-counts 1,2,4,8 --seed 3");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    train = data::load_dataset(tmp / "sub");
    for (const auto& g : data::duplicate_groups(train.manifest)) planted[g.count] = g.id;
    ASSERT_EQ(planted.size(), 4u);
  }

  int64_t first_row(int64_t id) const {
    return std::find(train.ids.begin(), train.ids.end(), id) - train.ids.begin();
  }

  test::TempDir tmp;
  data::Dataset train;
  std::map<int64_t, int64_t> planted;  // count -> id
};

TEST_F(ExtractCli, FindsTheCopiedImagesAndReportsRatesByDuplicateCount) {
  // Shard 0: two noisy copies of the ×8 image, one of the ×4 image, 5 noise images.
  // Shard 1: one more of the ×8 image, 3 noise images.
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> noise(-6, 6), pixel(0, 255);
  const int64_t bytes = train.image_bytes();
  auto copy_of = [&](int64_t id) {
    std::vector<uint8_t> v(train.image(first_row(id)), train.image(first_row(id)) + bytes);
    for (auto& p : v) p = uint8_t(std::clamp(int(p) + noise(rng), 0, 255));
    return v;
  };
  auto random_image = [&] {
    std::vector<uint8_t> v(bytes);
    for (auto& p : v) p = uint8_t(pixel(rng));
    return v;
  };
  const fs::path gens = tmp / "gens";
  std::vector<std::vector<std::vector<uint8_t>>> shards = {
      {copy_of(planted[8]), copy_of(planted[8]), copy_of(planted[4])},
      {copy_of(planted[8])}};
  for (int i = 0; i < 5; ++i) shards[0].push_back(random_image());
  for (int i = 0; i < 3; ++i) shards[1].push_back(random_image());
  int64_t seed = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    io::HostArray a = io::HostArray::zeros(io::DType::kU8, {int64_t(shards[s].size()), 28, 28, 1});
    std::vector<int64_t> seeds;
    for (size_t i = 0; i < shards[s].size(); ++i) {
      std::copy(shards[s][i].begin(), shards[s][i].end(), a.bytes.begin() + i * bytes);
      seeds.push_back(seed++);
    }
    data::write_shard(gens, int64_t(s), a, seeds);
  }

  const fs::path out = tmp / "extract";
  auto r = test::run_diffmem("--device cpu extract --generations " + test::quoted(gens) + " --train " + test::quoted(tmp / "sub") +
                             " --out " + test::quoted(out) + " --n-calibration 10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("4 of 12 generations within delta 0.15; 2 unique training images extracted"),
            std::string::npos)
      << r.output;

  const std::vector<attack::Match> m = attack::read_matches_csv(out / "matches.csv");
  ASSERT_EQ(m.size(), 12u);
  for (int64_t g : {0, 1, 8}) {
    EXPECT_EQ(m[g].nearest_id, planted[8]) << g;
    EXPECT_EQ(m[g].nearest_row, first_row(planted[8])) << g;
    EXPECT_TRUE(m[g].extracted) << g;
    EXPECT_LT(m[g].l2, 0.03) << g;
    EXPECT_LE(m[g].tiled_l2, 0.05) << g;
    EXPECT_GE(m[g].tiled_l2, m[g].l2) << g;  // the max over tiles is at least the whole image's
  }
  EXPECT_EQ(m[2].nearest_id, planted[4]);
  EXPECT_EQ(m[8].seed, 8);
  EXPECT_EQ(m[8].shard, 1);
  for (int64_t g : {3, 4, 5, 6, 7, 9, 10, 11}) {
    EXPECT_FALSE(m[g].extracted) << g;
    EXPECT_GT(m[g].l2, 0.2) << g;
  }

  const io::Json s = io::read_json(out / "summary.json");
  EXPECT_EQ(s["generations"], 12);
  EXPECT_EQ(s["unique_extracted"], 2);
  const io::Json& rates = s["duplicate_rates"];
  ASSERT_EQ(rates.size(), 4u);
  const std::vector<int64_t> extracted = {0, 0, 1, 1};  // counts 1, 2, 4, 8
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(rates[i]["count"], int64_t(1) << i);
    EXPECT_EQ(rates[i]["planted"], 1);
    EXPECT_EQ(rates[i]["extracted"], extracted[i]) << rates.dump();
  }
  EXPECT_TRUE(fs::exists(out / "pairs.png"));
  const std::string csv = test::read_bytes(out / "extracted.csv");
  EXPECT_NE(csv.find("\n" + std::to_string(planted[8]) + "," + std::to_string(first_row(planted[8])) + ",3,"),
            std::string::npos)
      << csv;

  // Rerun: every shard from the cache.
  r = test::run_diffmem("--device cpu extract --generations " + test::quoted(gens) + " --train " + test::quoted(tmp / "sub") +
                        " --out " + test::quoted(out) + " --n-calibration 10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(0 computed, 2 reused)"), std::string::npos) << r.output;
}

TEST_F(ExtractCli, DedupFindsThePlantedGroupsAndWritesTheDeduplicatedSet) {
  const fs::path out = tmp / "dedup";
  auto r = test::run_diffmem("--device cpu dedup --data " + test::quoted(tmp / "sub") + " --out " + test::quoted(out) +
                             " --write-deduplicated " + test::quoted(tmp / "dd"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("planted duplicate groups found at their exact size: 4 of 4"), std::string::npos)
      << r.output;
  const io::Json s = io::read_json(out / "summary.json");
  EXPECT_EQ(s["rows"], train.size());
  EXPECT_EQ(s["groups"], 3);  // ×2, ×4, ×8
  EXPECT_EQ(s["removed"], 1 + 3 + 7);
  const io::HostArray counts = io::read_npy(out / "counts.npy");
  for (int64_t i = 0; i < train.size(); ++i) {
    int64_t expected = 1;
    for (const auto& [c, id] : planted)
      if (train.ids[i] == id) expected = c;
    EXPECT_EQ(counts.data<int64_t>()[i], expected) << i;
  }
  const data::Dataset d = data::load_dataset(tmp / "dd");
  EXPECT_EQ(d.size(), 16);
  EXPECT_EQ(std::set<int64_t>(d.ids.begin(), d.ids.end()).size(), 16u);
}

TEST_F(ExtractCli, BadInputsExitNonZeroWithOneLineNamingThePath) {
  const fs::path missing = tmp / "no-generations";
  auto r = test::run_diffmem("extract --generations " + test::quoted(missing) + " --train " + test::quoted(tmp / "sub") +
                             " --out " + test::quoted(tmp / "x"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(missing.string()), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  // 32×32 generations against 28×28 training images.
  data::write_shard(tmp / "g32", 0, io::HostArray::zeros(io::DType::kU8, {2, 32, 32, 1}), {0, 1});
  r = test::run_diffmem("extract --generations " + test::quoted(tmp / "g32") + " --train " + test::quoted(tmp / "sub") + " --out " +
                        test::quoted(tmp / "x"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find((tmp / "g32" / "images-00000.npy").string()), std::string::npos) << r.output;

  r = test::run_diffmem("dedup --out " + test::quoted(tmp / "y"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--embeddings"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace diffmem
