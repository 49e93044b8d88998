#include "diffmem/data/subset.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "diffmem/core/error.h"
#include "diffmem/data/captions.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/image_file.h"
#include "test_support.h"

namespace diffmem::data {
namespace {

// n images of 3×2×1; image i is filled with value i, label i % 4, id 100 + i.
Dataset source(int64_t n = 40) {
  Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, 3, 2, 1});
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 6; ++k) ds.images.bytes[i * 6 + k] = uint8_t(i);
    ds.labels.push_back(i % 4);
    ds.ids.push_back(100 + i);
  }
  ds.manifest = {{"source", "synthetic"}, {"src", "/x"}, {"split", "train"},
                 {"created_by", "diffmem data import"}, {"count", n},
                 {"classes", {"a", "b", "c", "d"}}};
  return ds;
}

// Every row's pixels, label and id must be those of the source image it names.
void expect_rows_consistent(const Dataset& sub) {
  for (int64_t r = 0; r < sub.size(); ++r) {
    const int64_t i = sub.ids[r] - 100;
    ASSERT_GE(i, 0);
    EXPECT_EQ(sub.labels[r], i % 4);
    for (int k = 0; k < 6; ++k) ASSERT_EQ(sub.image(r)[k], uint8_t(i));
  }
}

std::map<int64_t, int64_t> id_counts(const Dataset& ds) {
  std::map<int64_t, int64_t> c;
  for (int64_t id : ds.ids) ++c[id];
  return c;
}

TEST(Subset, SameSeedSameBytesOtherSeedOtherImages) {
  SubsetOptions o;
  o.n = 10;
  o.seed = 7;
  o.split = "half";
  o.duplicate_counts = {2, 3};
  const Dataset a = make_subset(source(), o), b = make_subset(source(), o);
  EXPECT_EQ(a.images.bytes, b.images.bytes);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(*a.members, *b.members);
  EXPECT_EQ(a.manifest, b.manifest);
  o.seed = 8;
  const Dataset c = make_subset(source(), o);
  EXPECT_NE(a.ids, c.ids);
}

TEST(Subset, KeepsNDistinctSourceImagesInShuffledOrder) {
  SubsetOptions o;
  o.n = 12;
  o.seed = 3;
  const Dataset s = make_subset(source(), o);
  ASSERT_EQ(s.size(), 12);
  EXPECT_EQ(s.images.shape, (std::vector<int64_t>{12, 3, 2, 1}));
  EXPECT_EQ(id_counts(s).size(), 12u);
  expect_rows_consistent(s);
  EXPECT_FALSE(std::is_sorted(s.ids.begin(), s.ids.end()));
  EXPECT_FALSE(s.members.has_value());
  const io::Json& m = s.manifest;
  EXPECT_EQ(m["created_by"], "diffmem data subset");
  EXPECT_EQ(m["source"], "synthetic");
  EXPECT_EQ(m["split"], "train");  // the source's split is provenance, kept as is
  EXPECT_EQ(m["classes"][2], "c");
  EXPECT_EQ(m["count"], 12);
  EXPECT_EQ(m["distinct"], 12);
  EXPECT_EQ(m["options"]["seed"], 3);
  EXPECT_EQ(m["options"]["n"], 12);
  EXPECT_EQ(m["parent"]["count"], 40);
  EXPECT_EQ(m["duplicates"], io::Json::array());
  EXPECT_FALSE(m.contains("members"));
}

TEST(Subset, ClassFilter) {
  SubsetOptions o;
  o.classes = {3, 1};
  const Dataset all = make_subset(source(), o);
  ASSERT_EQ(all.size(), 20);
  for (int64_t l : all.labels) EXPECT_TRUE(l == 1 || l == 3);
  expect_rows_consistent(all);
  o.n = 5;
  EXPECT_EQ(make_subset(source(), o).size(), 5);
  o.n = 21;
  EXPECT_THROW(make_subset(source(), o), Error);
  o.n = 0;
  o.classes = {1, 7};
  try {
    make_subset(source(), o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("class 7"), std::string::npos) << e.what();
  }
}

TEST(Subset, HalfSplitIsExactAndDisjoint) {
  for (int64_t n : {10, 11, 40}) {
    SubsetOptions o;
    o.n = n;
    o.seed = 11;
    o.split = "half";
    const Dataset s = make_subset(source(), o);
    ASSERT_TRUE(s.members.has_value());
    std::set<int64_t> in, out;
    for (int64_t r = 0; r < s.size(); ++r) ((*s.members)[r] ? in : out).insert(s.ids[r]);
    EXPECT_EQ(int64_t(in.size()), n / 2);
    EXPECT_EQ(int64_t(out.size()), n - n / 2);
    for (int64_t id : in) EXPECT_EQ(out.count(id), 0u);
    EXPECT_EQ(s.manifest["members"]["count"], n / 2);
    EXPECT_EQ(s.manifest["members"]["of"], n);
    EXPECT_EQ(s.manifest["members"]["seed"], 11);
  }
  // Different seeds draw different halves of the same images.
  SubsetOptions o;
  o.split = "half";
  o.seed = 1;
  const Dataset a = make_subset(source(), o);
  o.seed = 2;
  const Dataset b = make_subset(source(), o);
  std::set<int64_t> ma, mb;
  for (int64_t r = 0; r < 40; ++r) {
    if ((*a.members)[r]) ma.insert(a.ids[r]);
    if ((*b.members)[r]) mb.insert(b.ids[r]);
  }
  EXPECT_NE(ma, mb);
}

TEST(Subset, PlantedDuplicatesAppearExactlyCountTimes) {
  SubsetOptions o;
  o.n = 20;
  o.seed = 5;
  o.duplicate_counts = {1, 2, 4, 8};
  const Dataset s = make_subset(source(), o);
  ASSERT_EQ(s.size(), 20 + 0 + 1 + 3 + 7);
  expect_rows_consistent(s);
  const auto counts = id_counts(s);
  EXPECT_EQ(counts.size(), 20u);
  const auto groups = duplicate_groups(s.manifest);
  ASSERT_EQ(groups.size(), 4u);
  std::set<int64_t> planted;
  for (size_t g = 0; g < groups.size(); ++g) {
    EXPECT_EQ(groups[g].count, o.duplicate_counts[g]);
    EXPECT_EQ(counts.at(groups[g].id), groups[g].count);
    planted.insert(groups[g].id);
  }
  EXPECT_EQ(planted.size(), 4u);
  for (const auto& [id, c] : counts)
    if (!planted.count(id)) {
      EXPECT_EQ(c, 1) << id;
    }
  EXPECT_EQ(s.manifest["distinct"], 20);
  EXPECT_EQ(s.manifest["count"], 31);

  // The 8 copies are spread out by the shuffle, not one block.
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < s.size(); ++r)
    if (s.ids[r] == groups[3].id) rows.push_back(r);
  EXPECT_GT(rows.back() - rows.front(), 7);

  // Planting draws from its own stream: the same distinct images are selected without it.
  SubsetOptions plain = o;
  plain.duplicate_counts.clear();
  const auto plain_counts = id_counts(make_subset(source(), plain));
  for (const auto& [id, c] : counts) EXPECT_EQ(plain_counts.count(id), 1u) << id;
}

TEST(Subset, SeveralPicksPerCountAndCopiesShareMembership) {
  SubsetOptions o;
  o.n = 16;
  o.seed = 9;
  o.split = "half";
  o.duplicate_counts = {3, 5};
  o.duplicate_picks = 2;
  const Dataset s = make_subset(source(), o);
  EXPECT_EQ(s.size(), 16 + 2 * 2 + 2 * 4);
  const auto groups = duplicate_groups(s.manifest);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[0].count, 3);
  EXPECT_EQ(groups[1].count, 3);
  EXPECT_EQ(groups[2].count, 5);
  const auto counts = id_counts(s);
  for (const auto& g : groups) EXPECT_EQ(counts.at(g.id), g.count);
  std::map<int64_t, bool> flag;
  for (int64_t r = 0; r < s.size(); ++r) {
    auto [it, fresh] = flag.emplace(s.ids[r], (*s.members)[r]);
    if (!fresh) {
      EXPECT_EQ(it->second, bool((*s.members)[r])) << "id " << s.ids[r];
    }
  }
  for (size_t g = 0; g < groups.size(); ++g)
    EXPECT_EQ(s.manifest["duplicates"][g]["member"], flag.at(groups[g].id));
  EXPECT_EQ(s.manifest["members"]["count"], 8);
}

// A manifest is input: entries whose id or count is not an integer are refused as diffmem errors
// (a string id escaped as a bare library exception).
TEST(Subset, DuplicateGroupsRefuseEntriesThatAreNotIntegers) {
  EXPECT_EQ(duplicate_groups(io::Json::parse(R"({"duplicates": [{"id": 3, "count": 2}]})")).size(), 1u);
  for (const char* bad : {R"({"duplicates": [{"id": "3", "count": 2}]})", R"({"duplicates": [{"id": 3, "count": 2.5}]})",
                          R"({"duplicates": [{"id": 3, "count": null}]})", R"({"duplicates": {"id": 3}})"})
    EXPECT_THROW(duplicate_groups(io::Json::parse(bad)), Error) << bad;
}

TEST(Subset, RejectsWhatTheDataCannotSatisfy) {
  SubsetOptions o;
  o.n = 3;
  o.duplicate_counts = {1, 2, 4, 8};
  EXPECT_THROW(make_subset(source(), o), Error);
  o.duplicate_counts = {0};
  EXPECT_THROW(make_subset(source(), o), Error);
  o = SubsetOptions{};
  o.split = "thirds";
  EXPECT_THROW(make_subset(source(), o), Error);
  o = SubsetOptions{};
  o.n = 41;
  EXPECT_THROW(make_subset(source(), o), Error);
  o.n = 0;
  o.duplicate_picks = 0;
  o.duplicate_counts = {2};
  EXPECT_THROW(make_subset(source(), o), Error);
}

TEST(Subset, SubsetOfASubsetNeverPlantsAnImageThatIsAlreadyCopied) {
  SubsetOptions o;
  o.n = 6;
  o.duplicate_counts = {4};
  o.seed = 1;
  const Dataset first = make_subset(source(), o);  // 9 rows, 6 ids
  SubsetOptions again;
  again.duplicate_counts = {2, 2, 2, 2, 2};  // 5 picks among the 5 ids that occur once
  again.seed = 2;
  const Dataset second = make_subset(first, again);
  const auto counts = id_counts(second);
  for (const auto& g : duplicate_groups(second.manifest)) EXPECT_EQ(counts.at(g.id), 2);
  again.duplicate_counts.push_back(2);  // a sixth pick would have to be the copied image
  EXPECT_THROW(make_subset(first, again), Error);
}

TEST(SubsetCaptions, CopiesKeepTheirCaptionOrGetVariedOnes) {
  Dataset src = source();
  src.captions.emplace();
  for (int64_t i = 0; i < src.size(); ++i) src.captions->push_back("caption of " + std::to_string(100 + i));
  SubsetOptions o;
  o.n = 20;
  o.seed = 4;
  o.duplicate_counts = {4, 8};
  const Dataset same = make_subset(src, o);
  ASSERT_TRUE(same.captions.has_value());
  ASSERT_EQ(same.captions->size(), static_cast<size_t>(same.size()));
  for (int64_t r = 0; r < same.size(); ++r) EXPECT_EQ((*same.captions)[r], "caption of " + std::to_string(same.ids[r]));
  for (const auto& d : same.manifest["duplicates"])
    EXPECT_EQ(d["caption"], "caption of " + std::to_string(d["id"].get<int64_t>()));

  o.caption_copies = "varied";
  const Dataset varied = make_subset(src, o);
  EXPECT_EQ(varied.ids, same.ids);  // the same rows: only the copies' captions change
  std::map<int64_t, std::set<std::string>> by_id;
  for (int64_t r = 0; r < varied.size(); ++r) {
    const std::string& c = (*varied.captions)[r];
    EXPECT_EQ(c.rfind("caption of " + std::to_string(varied.ids[r]), 0), 0u) << c;
    by_id[varied.ids[r]].insert(c);
  }
  for (const auto& d : varied.manifest["duplicates"]) {
    const auto& captions = by_id[d["id"].get<int64_t>()];
    EXPECT_TRUE(captions.count(d["caption"].get<std::string>()));  // one copy keeps the original
    EXPECT_GE(static_cast<int64_t>(captions.size()), d["count"].get<int64_t>() / 2);  // the rest mostly differ
  }
  o.caption_copies = "other";
  EXPECT_THROW(make_subset(src, o), Error);
}

TEST(SubsetCaptions, PromptsFileHasOneRowPerDistinctImage) {
  Dataset src = source();
  src.captions.emplace();
  for (int64_t i = 0; i < src.size(); ++i) src.captions->push_back("a \"quoted\", caption " + std::to_string(100 + i));
  SubsetOptions o;
  o.n = 12;
  o.seed = 2;
  o.split = "half";
  o.duplicate_counts = {3};
  const Dataset sub = make_subset(src, o);
  test::TempDir dir;
  EXPECT_EQ(write_caption_prompts(sub, dir / "p"), 12);
  const auto rows = io::parse_csv(test::read_bytes(dir / "p" / "prompts.csv"), "prompts.csv");
  ASSERT_EQ(rows.size(), 13u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"id", "prompt", "duplicates", "planted", "member", "train_image"}));
  const auto counts = id_counts(sub);
  int64_t planted = 0;
  for (size_t r = 1; r < rows.size(); ++r) {
    const int64_t id = std::stoll(rows[r][0]);
    EXPECT_EQ(rows[r][1], "a \"quoted\", caption " + rows[r][0]);
    EXPECT_EQ(std::stoll(rows[r][2]), counts.at(id));
    planted += rows[r][3] == "1";
    if (rows[r][3] == "1") {
      EXPECT_EQ(rows[r][4], "1");  // planted in what a model trains on
    }
    EXPECT_TRUE(std::filesystem::exists(dir / "p" / rows[r][5]));
  }
  EXPECT_EQ(planted, sub.manifest["duplicates"][0]["member"].get<bool>() ? 1 : 0);
  const io::HostArray img = io::read_image(dir / "p" / rows[1][5]);
  EXPECT_EQ(img.shape, (std::vector<int64_t>{3, 2, 1}));
  Dataset plain = sub;
  plain.captions.reset();
  EXPECT_THROW(write_caption_prompts(plain, dir / "q"), Error);
}

}  // namespace
}  // namespace diffmem::data
