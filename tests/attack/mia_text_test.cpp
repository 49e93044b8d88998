// Membership inference on a text-to-image pipeline folder: the two losses per
// example, their independence from the batch, CLiD as their difference, the outputs of `diffmem
// mia`, and one-line refusals.
#include "diffmem/attack/mia_text.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "diffmem/core/error.h"
#include "diffmem/core/rng.h"
#include "diffmem/io/csv.h"
#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;

// 8 random 32x32 colour images with captions, for the tiny SD-1.x pipeline (random weights: the
// statistics' plumbing is under test here; the experiment under experiments/ measures the attack).
data::Dataset captioned(int64_t n = 8) {
  data::Dataset ds;
  ds.images = io::HostArray::zeros(io::DType::kU8, {n, 32, 32, 3});
  core::Rng rng(5);
  for (auto& b : ds.images.bytes) b = static_cast<uint8_t>(rng.below(256));
  ds.captions.emplace();
  for (int64_t i = 0; i < n; ++i) {
    ds.labels.push_back(-1);
    ds.ids.push_back(100 + i);
    ds.captions->push_back("picture number " + std::to_string(i));
  }
  return ds;
}

fs::path tiny_pipeline() { return fs::path(test::source_dir()) / "tests/reference/model/sd_tiny_v1"; }

TEST(TextMia, LossesDoNotDependOnTheBatchAndClidIsTheirDifference) {
  test::TempDir dir;
  const auto ds = captioned();
  const fs::path model = tiny_pipeline();
  TextMiaOptions o;
  o.t = 30;
  o.draws = 3;
  o.batch = 6;  // one example per pass
  const TextMiaErrors a = text_mia_errors(model, ds, o);
  o.batch = 64;  // all of them at once
  const TextMiaErrors b = text_mia_errors(model, ds, o);
  ASSERT_EQ(a.conditional.size(), 8u);
  EXPECT_EQ(a.unet_images, 8 * 3 * 2);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_GT(a.conditional[i], 0);
    EXPECT_NEAR(a.conditional[i], b.conditional[i], 1e-5 * a.conditional[i]);
    EXPECT_NEAR(a.null[i], b.null[i], 1e-5 * a.null[i]);
  }
  // Another seed draws other noise.
  o.seed = 1;
  EXPECT_NE(text_mia_errors(model, ds, o).conditional[0], a.conditional[0]);

  std::vector<bool> members(8, false);
  for (size_t i = 0; i < 4; ++i) members[i] = true;
  o.seed = 0;
  const MiaRunResult r = run_text_mia(model, ds, members, "clid", o, dir / "out");
  ASSERT_EQ(r.attacks.size(), 2u);
  EXPECT_EQ(r.members, 4);
  const auto loss = io::parse_csv(test::read_bytes(dir / "out" / "loss" / "scores.csv"), "loss");
  const auto clid = io::parse_csv(test::read_bytes(dir / "out" / "clid" / "scores.csv"), "clid");
  ASSERT_EQ(loss.size(), 9u);
  EXPECT_EQ(loss[0], (std::vector<std::string>{"row", "id", "score", "member"}));
  EXPECT_EQ(loss[1][1], "100");
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_NEAR(std::stod(loss[i + 1][2]), -b.conditional[i], 1e-5 * b.conditional[i]);
    EXPECT_NEAR(std::stod(clid[i + 1][2]), b.null[i] - b.conditional[i], 1e-5 * b.null[i]);
  }
  const io::Json s = io::read_json(dir / "out" / "clid" / "summary.json");
  EXPECT_EQ(s.at("members"), 4);
  EXPECT_GE(s.at("auc").get<double>(), 0.0);
  EXPECT_EQ(s.at("unet_images"), 8 * 3 * 2);
}

TEST(TextMia, RefusalsNameTheProblem) {
  test::TempDir dir;
  auto ds = captioned();
  const fs::path model = tiny_pipeline();
  std::vector<bool> members(8, true);
  std::string m = test::error_of([&] { run_text_mia(model, ds, members, "clid", {}, dir / "o"); });
  EXPECT_NE(m.find("non-members"), std::string::npos) << m;
  members[0] = false;
  m = test::error_of([&] { run_text_mia(model, ds, members, "lira", {}, dir / "o"); });
  EXPECT_NE(m.find("not built yet"), std::string::npos) << m;
  TextMiaOptions o;
  o.t = 1000;  // the schedule has 1000 timesteps: 0..999
  m = test::error_of([&] { run_text_mia(model, ds, members, "loss", o, dir / "o"); });
  EXPECT_NE(m.find("--t"), std::string::npos) << m;
  ds.captions.reset();
  m = test::error_of([&] { run_text_mia(model, ds, members, "loss", {}, dir / "o"); });
  EXPECT_NE(m.find("captions"), std::string::npos) << m;
}

}  // namespace
}  // namespace diffmem::attack
