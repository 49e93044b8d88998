#include "diffmem/attack/split_check.h"

#include <gtest/gtest.h>

#include "diffmem/core/rng.h"
#include "test_support.h"

using namespace diffmem;
using namespace diffmem::attack;

namespace {

// n noise images (H×W×C): image i has its own brightness level; `brighter` rows get +shift.
data::Dataset noise_images(int64_t n, int64_t c, uint64_t seed, const std::vector<bool>& brighter, int shift) {
  data::Dataset ds;
  const int64_t h = 12, w = 12;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, h, w, c});
  core::Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    const int level = 60 + int(rng.below(100)) + (brighter[size_t(i)] ? shift : 0);
    uint8_t* p = ds.images.bytes.data() + i * h * w * c;
    for (int64_t k = 0; k < h * w * c; ++k) p[k] = uint8_t(std::clamp(level + int(rng.below(60)) - 30, 0, 255));
    ds.labels.push_back(-1);
    ds.ids.push_back(i);
  }
  return ds;
}

std::vector<bool> alternate(int64_t n) {
  std::vector<bool> m(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) m[size_t(i)] = i % 2 == 0;
  return m;
}

}  // namespace

// Members and non-members from one distribution: the check stays near chance and does not flag.
TEST(SplitCheck, RandomSplitIsNotFlagged) {
  for (int64_t c : {1, 3}) {
    const auto members = alternate(400);
    const data::Dataset ds = noise_images(400, c, 11 + c, members, 0);
    const SplitCheckResult r = split_check(ds, members);
    EXPECT_FALSE(r.biased) << c << ": " << split_check_verdict(r);
    // Cross-validation on null data tends to land below 0.5 (each fold's fit leans away from its
    // held-out rows), never far above.
    EXPECT_NEAR(r.summary.auc, 0.5, 0.12) << c;
    ASSERT_TRUE(r.summary.ci);
    EXPECT_LE(r.summary.ci->auc.low, 0.5);
    EXPECT_EQ(r.features.size(), c == 3 ? 12u : 8u);
  }
}

// Members brighter than non-members (a split by source, not by chance): flagged, with the
// brightness features named as the signal.
TEST(SplitCheck, BiasedSplitIsFlaggedAndExplained) {
  const auto members = alternate(400);
  const data::Dataset ds = noise_images(400, 1, 5, members, 40);
  const SplitCheckResult r = split_check(ds, members);
  EXPECT_TRUE(r.biased) << split_check_verdict(r);
  EXPECT_GT(r.summary.auc, 0.7);
  ASSERT_FALSE(r.strongest.empty());
  const std::string top = r.strongest[0];
  EXPECT_TRUE(top.rfind("mean", 0) == 0 || top.rfind("dark", 0) == 0 || top.rfind("bright", 0) == 0 ||
              top.rfind("entropy", 0) == 0)
      << top;
  EXPECT_NE(split_check_verdict(r).find("biased split"), std::string::npos);
  const io::Json j = split_check_json(r, {});
  EXPECT_EQ(j["biased"], true);
  EXPECT_TRUE(j["ci"]["auc"].is_array());
}

// Captions that differ in style between the classes (longer member captions) are caught too.
TEST(SplitCheck, CaptionStatisticsJoinWhenPresent) {
  const auto members = alternate(200);
  data::Dataset ds = noise_images(200, 3, 7, members, 0);
  ds.captions = std::vector<std::string>();
  core::Rng rng(3);
  for (int64_t i = 0; i < 200; ++i) {
    std::string cap = "a photo of a thing";
    for (uint64_t k = 0, extra = rng.below(3) + (members[size_t(i)] ? 3 : 0); k < extra; ++k) cap += " with detail";
    ds.captions->push_back(cap);
  }
  const SplitCheckResult with = split_check(ds, members);
  EXPECT_TRUE(with.biased);
  EXPECT_EQ(with.features.size(), 18u);
  SplitCheckOptions o;
  o.captions = false;
  EXPECT_FALSE(split_check(ds, members, o).biased);
}

// Copies of one image (one id) stay in one fold: 40 members each copied 5 times against 200
// distinct non-members of the same distribution must not look separable.
TEST(SplitCheck, CopiesOfOneImageStayInOneFold) {
  const int64_t n = 400;
  std::vector<bool> members(size_t(n), false);
  for (int64_t i = 0; i < 200; ++i) members[size_t(i)] = true;
  data::Dataset ds = noise_images(n, 1, 9, members, 0);
  for (int64_t i = 0; i < 200; ++i) {
    const int64_t src = (i / 5) * 5;  // rows 5k..5k+4 copy row 5k, share its id
    std::copy_n(ds.image(src), ds.image_bytes(), ds.images.bytes.data() + i * ds.image_bytes());
    ds.ids[size_t(i)] = src;
  }
  const SplitCheckResult r = split_check(ds, members);
  EXPECT_FALSE(r.biased) << split_check_verdict(r);
}

TEST(SplitCheck, BadInputIsNamed) {
  const auto members = alternate(8);
  const data::Dataset ds = noise_images(8, 1, 1, members, 0);
  EXPECT_NE(test::error_of([&] { split_check(ds, members); }).find("at least 5 distinct"), std::string::npos);
  EXPECT_NE(test::error_of([&] { split_check(ds, alternate(7)); }).find("member flags"), std::string::npos);
  SplitCheckOptions o;
  o.folds = 1;
  EXPECT_NE(test::error_of([&] { split_check(ds, members, o); }).find("split_check.folds"), std::string::npos);
}
