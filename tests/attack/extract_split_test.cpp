// extract with the training set split across ranks (--split-train), the ranks as threads
// (thread_communicator.h): every output file the same bytes as one process's, ties between copies
// held by different ranks included; a split run resumed by one process and the other way round;
// more ranks than training images refused on every rank.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "diffmem/attack/extract.h"
#include "diffmem/core/error.h"
#include "diffmem/data/dataset.h"
#include "diffmem/data/generations.h"
#include "diffmem/io/json.h"
#include "test_support.h"
#include "thread_communicator.h"

namespace diffmem::attack::split_test {
namespace {
namespace fs = std::filesystem;

constexpr int64_t kH = 8, kW = 8, kD = kH * kW;
using Image = std::vector<uint8_t>;

io::HostArray stack(const std::vector<Image>& images) {
  io::HostArray a = io::HostArray::zeros(io::DType::kU8, {int64_t(images.size()), kH, kW, 1});
  for (size_t i = 0; i < images.size(); ++i) std::copy(images[i].begin(), images[i].end(), a.bytes.begin() + i * kD);
  return a;
}

class ExtractSplit : public ::testing::Test {
 protected:
  void SetUp() override {
    std::uniform_int_distribution<int> u(0, 255);
    auto random_image = [&] {
      Image im(kD);
      for (auto& v : im) v = static_cast<uint8_t>(u(rng));
      return im;
    };
    // 61 rows (no rank count divides it); id 500 at rows 3, 30 and 58, in every part of 2 or 3
    // ranks; id 501 at rows 19 and 41.
    std::vector<Image> train;
    std::vector<int64_t> ids;
    for (int64_t r = 0; r < 61; ++r) {
      train.push_back(random_image());
      ids.push_back(r);
    }
    for (int64_t r : {30, 58}) train[r] = train[3];
    train[41] = train[19];
    for (int64_t r : {3, 30, 58}) ids[r] = 500;
    for (int64_t r : {19, 41}) ids[r] = 501;
    data::Dataset ds;
    ds.images = stack(train);
    ds.ids = ids;
    ds.labels.assign(ids.size(), 0);
    ds.manifest = {{"source", "synthetic"}, {"duplicates", {{{"id", 500}, {"count", 3}}, {{"id", 501}, {"count", 2}}}}};
    data::save_dataset(tmp / "train", ds);
    auto noised = [&](const Image& src, int amp) {
      std::uniform_int_distribution<int> n(-amp, amp);
      Image im = src;
      for (auto& v : im) v = static_cast<uint8_t>(std::clamp(int(v) + n(rng), 0, 255));
      return im;
    };
    const std::vector<std::vector<Image>> shards = {
        {train[3], noised(train[19], 4), random_image(), train[60], random_image()},
        {noised(train[3], 2), random_image(), random_image()},
        {train[41], noised(train[45], 6), random_image(), random_image(), noised(train[0], 1), random_image()},
        {random_image(), train[30]}};
    int64_t seed = 7000;
    for (size_t s = 0; s < shards.size(); ++s) {
      std::vector<int64_t> seeds;
      for (size_t i = 0; i < shards[s].size(); ++i) seeds.push_back(seed++);
      data::write_shard(tmp / "gens", int64_t(s), stack(shards[s]), seeds);
    }
    opt.n_calibration = 5;
    opt.delta = 0.2;
    opt.top_pairs_png = 8;
  }

  ExtractResult one(const fs::path& out) { return run_extract(tmp / "gens", tmp / "train", out, opt); }

  // run_extract on `ranks` threads with --split-train; every rank must succeed.
  void split(const fs::path& out, int ranks) {
    ExtractOptions o = opt;
    o.split_train = true;
    const std::vector<std::string> errors = test::run_ranks(ranks, [&](const dist::Communicator& comm) {
      run_extract(tmp / "gens", tmp / "train", out, o, io::Json::object(), nullptr, comm);
    });
    for (size_t r = 0; r < errors.size(); ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
  }

  // Every result file of `got` equal to `want`'s (summary.json without its "timing").
  void expect_same_files(const fs::path& want, const fs::path& got) {
    for (const char* name : {"matches.csv", "extracted.csv", "pairs.png", "options.json", "shards/key.json"})
      EXPECT_EQ(test::read_bytes(got / name), test::read_bytes(want / name)) << name;
    for (int s = 0; s < 4; ++s) {
      const std::string name = "shards/matches-0000" + std::to_string(s) + ".csv";
      EXPECT_EQ(test::read_bytes(got / name), test::read_bytes(want / name)) << name;
    }
    io::Json a = io::read_json(want / "summary.json"), b = io::read_json(got / "summary.json");
    a.erase("timing");
    b.erase("timing");
    EXPECT_EQ(a.dump(1), b.dump(1));
  }

  std::mt19937 rng{11};
  test::TempDir tmp;
  ExtractOptions opt;
};

TEST_F(ExtractSplit, TwoAndThreeRanksWriteWhatOneProcessWrites) {
  const ExtractResult ref = one(tmp / "one");
  // The planted copies are found, the tie between rows 3, 30 and 58 going to row 3.
  const std::vector<Match> m = read_matches_csv(tmp / "one" / "matches.csv");
  ASSERT_EQ(m.size(), 16u);
  EXPECT_EQ(m[0].nearest_row, 3);
  EXPECT_EQ(m[15].nearest_row, 3);
  EXPECT_EQ(m[8].nearest_row, 19);
  EXPECT_GE(ref.unique_extracted, 3);
  for (int ranks : {2, 3}) {
    SCOPED_TRACE(std::to_string(ranks) + " ranks");
    const fs::path out = tmp / ("split" + std::to_string(ranks));
    split(out, ranks);
    expect_same_files(tmp / "one", out);
    EXPECT_EQ(io::read_json(out / "summary.json")["timing"]["training_set_parts"], ranks);
    EXPECT_EQ(io::read_json(out / "summary.json")["timing"]["shards_computed"], 4);
  }
}

TEST_F(ExtractSplit, ResumesAcrossModes) {
  one(tmp / "one");
  // Split, then one shard and the merged files lost: one process redoes only that shard.
  split(tmp / "a", 3);
  fs::remove(tmp / "a" / "shards" / "matches-00002.csv");
  fs::remove(tmp / "a" / "matches.csv");
  const ExtractResult r = one(tmp / "a");
  EXPECT_EQ(r.shards_computed, 1);
  EXPECT_EQ(r.shards_reused, 3);
  expect_same_files(tmp / "one", tmp / "a");
  // One process's cache, two shards lost: the split ranks redo those two.
  fs::create_directories(tmp / "b");
  fs::copy(tmp / "one", tmp / "b", fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  fs::remove(tmp / "b" / "shards" / "matches-00000.csv");
  fs::remove(tmp / "b" / "shards" / "matches-00003.csv");
  split(tmp / "b", 2);
  expect_same_files(tmp / "one", tmp / "b");
  const io::Json timing = io::read_json(tmp / "b" / "summary.json")["timing"];
  EXPECT_EQ(timing["shards_computed"], 2);
  EXPECT_EQ(timing["shards_reused"], 2);
}

TEST_F(ExtractSplit, MoreRanksThanTrainingImagesStopEveryRank) {
  data::Dataset ds = data::load_dataset(tmp / "train");
  ds.images.shape[0] = 2;
  ds.images.bytes.resize(2 * kD);
  ds.ids.resize(2);
  ds.labels.resize(2);
  ds.manifest = {{"source", "synthetic"}};
  data::save_dataset(tmp / "two", ds);
  ExtractOptions o = opt;
  o.split_train = true;
  const std::vector<std::string> errors = test::run_ranks(3, [&](const dist::Communicator& comm) {
    run_extract(tmp / "gens", tmp / "two", tmp / "out", o, io::Json::object(), nullptr, comm);
  });
  for (const std::string& e : errors) {
    EXPECT_NE(e.find("--split-train"), std::string::npos) << e;
    EXPECT_NE(e.find("rank 0"), std::string::npos) << e;  // the lowest failing rank, named on every rank
  }
  EXPECT_FALSE(fs::exists(tmp / "out" / "matches.csv"));
}

}  // namespace
}  // namespace diffmem::attack::split_test
