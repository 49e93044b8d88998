// Near-duplicate search inside one set: planted noisy copies among random images are found, and
// nothing else; checked against every pair by a naive loop.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "diffmem/attack/dedup.h"
#include "diffmem/core/error.h"
#include "diffmem/io/npy.h"
#include "diffmem/io/tensor_bridge.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;
using PairSet = std::set<std::pair<int64_t, int64_t>>;

// 40 random 8×8 grey images; row 3 is copied (±3 noise) into rows 10 and 20, row 5 into 25,
// and row 30 exactly into 31..35 (a group of 6).
torch::Tensor planted_images() {
  torch::manual_seed(11);
  torch::Tensor x = torch::randint(0, 256, {40, 8, 8, 1}, torch::kInt);
  auto copy = [&](int64_t from, int64_t to, int amp) {
    torch::Tensor noise = amp ? torch::randint(-amp, amp + 1, {8, 8, 1}, torch::kInt) : torch::zeros({8, 8, 1}, torch::kInt);
    x[to] = (x[from] + noise).clamp(0, 255);
  };
  copy(3, 10, 3);
  copy(3, 20, 3);
  copy(5, 25, 3);
  for (int64_t r = 31; r <= 35; ++r) copy(30, r, 0);
  return x.to(torch::kByte);
}

PairSet naive_pairs(const torch::Tensor& images, double threshold) {
  const torch::Tensor f = images.flatten(1).to(torch::kDouble) / 255.0;
  PairSet s;
  for (int64_t i = 0; i < f.size(0); ++i)
    for (int64_t j = i + 1; j < f.size(0); ++j)
      if ((f[i] - f[j]).pow(2).mean().sqrt().item<double>() <= threshold) s.insert({i, j});
  return s;
}

PairSet found_pairs(const DedupResult& r) {
  PairSet s;
  for (const auto& p : r.pairs) s.insert({p.i, p.j});
  return s;
}

TEST(Dedup, FindsThePlantedCopiesAndNothingElse) {
  const torch::Tensor images = planted_images();
  DedupOptions o;
  o.k = 10;
  const DedupResult r = find_duplicates(images, o);
  const PairSet expected = naive_pairs(images, 0.1);
  EXPECT_EQ(found_pairs(r), expected);
  // 3 pairs among {3,10,20}, 1 for {5,25}, 15 among the six copies of row 30.
  EXPECT_EQ(expected.size(), 3u + 1u + 15u);
  ASSERT_EQ(r.groups.size(), 3u);
  EXPECT_EQ(r.groups[0], (std::vector<int64_t>{3, 10, 20}));
  EXPECT_EQ(r.groups[1], (std::vector<int64_t>{5, 25}));
  EXPECT_EQ(r.groups[2], (std::vector<int64_t>{30, 31, 32, 33, 34, 35}));
  EXPECT_EQ(r.counts[3], 3);
  EXPECT_EQ(r.counts[20], 3);
  EXPECT_EQ(r.counts[25], 2);
  EXPECT_EQ(r.counts[33], 6);
  EXPECT_EQ(r.counts[0], 1);
  EXPECT_EQ(r.group[0], -1);
  EXPECT_EQ(r.group[10], 0);
  EXPECT_EQ(r.saturated, 0);
  const std::vector<int64_t> keep = r.keep();
  EXPECT_EQ(keep.size(), 40u - 2 - 1 - 5);
  EXPECT_TRUE(std::binary_search(keep.begin(), keep.end(), 3));
  EXPECT_FALSE(std::binary_search(keep.begin(), keep.end(), 10));
  EXPECT_FALSE(std::binary_search(keep.begin(), keep.end(), 31));
  for (const auto& p : r.pairs) EXPECT_EQ(p.distance == 0, p.i >= 30) << p.i << "," << p.j;
}

TEST(Dedup, SmallKStillGivesWholeGroupsAndSaysItWasSaturated) {
  const torch::Tensor images = planted_images();
  DedupOptions o;
  o.k = 2;
  const DedupResult r = find_duplicates(images, o);
  ASSERT_EQ(r.groups.size(), 3u);
  EXPECT_EQ(r.groups[2].size(), 6u);
  EXPECT_LT(r.pairs.size(), 19u);
  // The six copies of row 30 and rows 3, 10, 20 (each with exactly two duplicates) fill k = 2.
  EXPECT_EQ(r.saturated, 6 + 3);
  const PairSet all = naive_pairs(images, 0.1);
  for (const auto& p : found_pairs(r)) EXPECT_TRUE(all.count(p)) << p.first << "," << p.second;
}

TEST(Dedup, ThresholdZeroKeepsOnlyExactCopies) {
  DedupOptions o;
  o.threshold = 0;
  const DedupResult r = find_duplicates(planted_images(), o);
  ASSERT_EQ(r.groups.size(), 1u);
  EXPECT_EQ(r.groups[0].front(), 30);
}

TEST(Dedup, EmbeddingsFromNpyWithL2AndCosine) {
  test::TempDir tmp;
  torch::manual_seed(5);
  torch::Tensor e = torch::randn({30, 16});
  e[7] = e[2] * 3.0;                       // same direction, far in ℓ2
  e[12] = e[4] + 0.01 * torch::randn({16});  // close in both
  io::write_npy(tmp / "emb.npy", io::from_tensor(e));
  const torch::Tensor loaded = load_embeddings(tmp / "emb.npy");
  EXPECT_TRUE(torch::equal(loaded, e));

  DedupOptions l2;
  l2.threshold = 0.05;
  EXPECT_EQ(found_pairs(find_duplicates(loaded, l2)), (PairSet{{4, 12}}));

  DedupOptions cos;
  cos.metric = "cosine";
  cos.threshold = 0.999;
  const DedupResult r = find_duplicates(loaded, cos);
  EXPECT_EQ(found_pairs(r), (PairSet{{2, 7}, {4, 12}}));
  const torch::Tensor n = e / e.norm(2, {1}, true);
  for (const auto& p : r.pairs)
    EXPECT_NEAR(p.similarity, (n[p.i] * n[p.j]).sum().item<float>(), 1e-4);

  // Wrong dtype, wrong rank, non-finite values: errors name the file.
  io::write_npy(tmp / "u8.npy", io::HostArray::zeros(io::DType::kU8, {4, 3}));
  io::write_npy(tmp / "rank3.npy", io::HostArray::zeros(io::DType::kF32, {4, 3, 2}));
  torch::Tensor bad = torch::zeros({3, 2});
  bad[1][1] = std::nanf("");
  io::write_npy(tmp / "nan.npy", io::from_tensor(bad));
  for (const char* name : {"u8.npy", "rank3.npy", "nan.npy", "missing.npy"}) {
    try {
      load_embeddings(tmp / name);
      ADD_FAILURE() << name << ": no error";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find((tmp / name).string()), std::string::npos) << err.what();
    }
  }
  cos.threshold = 0.5;
  EXPECT_THROW(find_duplicates(torch::zeros({3, 4}), cos), Error);  // zero rows have no direction
  l2.metric = "hamming";
  EXPECT_THROW(find_duplicates(loaded, l2), Error);
  EXPECT_THROW(find_duplicates(torch::zeros({1, 4}), DedupOptions{}), Error);
}

TEST(Dedup, WritesFilesAndTheDeduplicatedDataSet) {
  test::TempDir tmp;
  const torch::Tensor images = planted_images();
  data::Dataset ds;
  ds.images = io::from_tensor(images);
  for (int64_t i = 0; i < 40; ++i) {
    ds.ids.push_back(500 + i);
    ds.labels.push_back(i % 3);
  }
  ds.members = std::vector<bool>(40, false);
  (*ds.members)[3] = true;
  ds.manifest = {{"source", "synthetic"}, {"duplicates", {{{"id", 530}, {"count", 6}}, {{"id", 503}, {"count", 4}}}}};
  DedupOptions o;
  const DedupResult r = find_duplicates(images, o);
  const io::Json s = write_dedup(tmp / "out", r, o, ds.ids, ds.manifest);
  EXPECT_EQ(s["pairs"], 19);
  EXPECT_EQ(s["groups"], 3);
  EXPECT_EQ(s["removed"], 8);
  EXPECT_EQ(s["kept"], 32);
  EXPECT_EQ(s["largest_group"], 6);
  EXPECT_EQ(s["planted"][0]["found"], 6);
  EXPECT_EQ(s["planted"][1]["found"], 3);  // planted as 4 in the manifest, 3 in these rows
  EXPECT_EQ(s["planted_found_exactly"], 1);
  EXPECT_EQ(io::read_json(tmp / "out" / "summary.json"), s);

  const io::HostArray counts = io::read_npy(tmp / "out" / "counts.npy");
  ASSERT_EQ(counts.dtype, io::DType::kI64);
  ASSERT_EQ(counts.shape, (std::vector<int64_t>{40}));
  EXPECT_EQ(std::vector<int64_t>(counts.data<int64_t>(), counts.data<int64_t>() + 40), r.counts);
  const std::string groups = test::read_bytes(tmp / "out" / "groups.csv");
  EXPECT_EQ(groups.substr(0, groups.find('\n') + 1), "group,size,row,id\n");
  EXPECT_NE(groups.find("\n0,3,10,510\n"), std::string::npos);
  EXPECT_NE(groups.find("\n2,6,35,535\n"), std::string::npos);
  const std::string pairs = test::read_bytes(tmp / "out" / "pairs.csv");
  EXPECT_NE(pairs.find("\n30,31,530,531,0\n"), std::string::npos);

  const data::Dataset d = deduplicated(ds, r, o, "src");
  ASSERT_EQ(d.size(), 32);
  EXPECT_EQ(d.ids, [&] {
    std::vector<int64_t> v;
    for (int64_t k : r.keep()) v.push_back(500 + k);
    return v;
  }());
  EXPECT_EQ(std::count(d.members->begin(), d.members->end(), true), 1);
  EXPECT_FALSE(d.manifest.contains("duplicates"));
  EXPECT_EQ(d.manifest["duplicates_before_dedup"].size(), 2u);
  EXPECT_EQ(d.manifest["dedup"]["removed"], 8);
  EXPECT_EQ(d.manifest["count"], 32);
  // Row 5 of the result is source row 5: the same bytes.
  EXPECT_TRUE(std::equal(d.image(5), d.image(5) + 64, ds.image(5)));
}

}  // namespace
}  // namespace diffmem::attack
