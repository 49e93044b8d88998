// A whole `diffmem inpaint` run at the library level on a tiny random model saved as a diffusers
// folder: outputs, ground truth, resuming from cached targets, errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "diffmem/attack/inpaint_run.h"
#include "diffmem/core/error.h"
#include "diffmem/data/dataset.h"
#include "diffmem/diffusion/schedule.h"
#include "diffmem/io/image_file.h"
#include "diffmem/model/checkpoint.h"
#include "mia_test_util.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> lines(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

std::vector<std::string> fields(const std::string& line) {
  std::stringstream ss(line);
  std::vector<std::string> f;
  for (std::string c; std::getline(ss, c, ',');) f.push_back(c);
  return f;
}

size_t count_files(const fs::path& dir, const std::string& ext) {
  size_t n = 0;
  if (!fs::is_directory(dir)) return 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ext;
  return n;
}

// data/ (16 images 8×8×1, members = even rows) and model/ (a tiny UNet with members.npy).
class InpaintRun : public ::testing::Test {
 protected:
  void SetUp() override {
    ds_ = test::random_dataset(16, 8, 1, 5);
    members_.resize(16);
    for (int i = 0; i < 16; ++i) members_[i] = i % 2 == 0;
    data::save_dataset(tmp_ / "data", ds_);
    model::save_unet2d(*test::tiny_unet(8, 1, 3), tmp_ / "model");
    diffusion::write_scheduler_config(tmp_ / "model" / "scheduler_config.json", {});
    data::save_members(tmp_ / "model", members_);
  }
  InpaintRunOptions options() {
    InpaintRunOptions o;
    o.model = tmp_ / "model";
    o.data = tmp_ / "data";
    o.out = tmp_ / "out";
    o.attack.mask = "right";
    o.attack.candidates = 3;
    o.attack.keep = 2;
    o.attack.n_targets = 6;
    o.attack.rank_draws = 2;
    o.attack.inpaint.steps = 4;
    o.attack.inpaint.batch = 8;
    o.show = 2;
    return o;
  }
  test::TempDir tmp_;
  data::Dataset ds_;
  std::vector<bool> members_;
};

TEST_F(InpaintRun, WritesEveryOutputAndResumes) {
  auto o = options();
  auto r = run_inpaint(o);
  EXPECT_EQ(r.members, 3);
  EXPECT_EQ(r.nonmembers, 3);
  EXPECT_EQ(r.computed, 6);
  EXPECT_EQ(r.cached, 0);
  EXPECT_EQ(r.ground_truth, (tmp_ / "model" / "members.npy").string());

  auto csv = lines(o.out / "inpaint.csv");
  ASSERT_EQ(csv.size(), 7u);
  EXPECT_EQ(csv[0],
            "target,row,id,member,best_distance,rank1_distance,rank1_loss,oracle_distance,"
            "mean_kept_distance");
  double sum_m = 0, sum_n = 0;
  for (size_t i = 1; i < csv.size(); ++i) {
    auto f = fields(csv[i]);
    ASSERT_EQ(f.size(), 9u);
    const int64_t row = std::stoll(f[1]);
    EXPECT_EQ(std::stoll(f[2]), ds_.ids[row]);
    EXPECT_EQ(f[3] == "1", members_[row]);
    const double best = std::stod(f[4]), rank1 = std::stod(f[5]), oracle = std::stod(f[7]);
    EXPECT_LE(oracle, best);
    EXPECT_LE(best, rank1);
    EXPECT_GT(best, 0.0);
    (members_[row] ? sum_m : sum_n) += best;
  }
  EXPECT_NEAR(r.mean_distance_members, sum_m / 3, 1e-12);
  EXPECT_NEAR(r.mean_distance_nonmembers, sum_n / 3, 1e-12);

  io::Json j = io::read_json(o.out / "summary.json");
  EXPECT_EQ(j.at("attack"), "inpaint");
  EXPECT_EQ(j.at("members"), 3);
  EXPECT_EQ(j.at("nonmembers"), 3);
  EXPECT_DOUBLE_EQ(j.at("auc").get<double>(), r.summary.auc);
  EXPECT_EQ(j.at("mask").at("hidden_pixels"), 32);
  EXPECT_EQ(j.at("options").at("attack").at("candidates"), 3);
  auto roc = metrics::read_roc_csv(o.out / "roc.csv");
  EXPECT_NEAR(roc.auc(), r.summary.auc, 1e-12);

  // Strips: 2 members + 2 non-members, each original | masked | 2 kept, tiles 8 px, pad 2, ×2.
  EXPECT_EQ(count_files(o.out / "strips", ".png"), 4u);
  for (auto& e : fs::directory_iterator(o.out / "strips")) {
    auto img = io::read_image(e.path());
    EXPECT_EQ(img.shape, (std::vector<int64_t>{2 * 12, 2 * 42, 1})) << e.path();
  }
  EXPECT_EQ(io::read_image(o.out / "strips.png").shape, (std::vector<int64_t>{2 * 42, 2 * 42, 1}));
  // The first member strip shows the first member target: its first tile is the original and
  // its second the original with the hidden (right) half gray.
  int64_t first_member = -1;
  for (size_t i = 1; i < csv.size() && first_member < 0; ++i)
    if (fields(csv[i])[3] == "1") first_member = std::stoll(fields(csv[i])[1]);
  char name[64];
  std::snprintf(name, sizeof name, "member-00-row%07lld.png", static_cast<long long>(first_member));
  auto strip = io::read_image(o.out / "strips" / name);
  const int64_t sw = strip.shape[1];
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 8; ++x) {
      const uint8_t orig = ds_.image(first_member)[y * 8 + x];
      // Tile k's pixel (y, x) sits at (2 + y, 2 + k * 10 + x) before the ×2 magnification.
      auto at = [&](int64_t k) { return strip.data<uint8_t>()[(2 * (2 + y)) * sw + 2 * (2 + k * 10 + x)]; };
      ASSERT_EQ(at(0), orig);
      ASSERT_EQ(at(1), x < 4 ? orig : 128);
    }
  auto mask = io::read_image(o.out / "mask.png");
  EXPECT_EQ(mask.data<uint8_t>()[0], 0);    // left: known
  EXPECT_EQ(mask.data<uint8_t>()[7], 255);  // right: hidden
  EXPECT_EQ(count_files(o.out / "targets", ".json"), 6u);

  // Rerun: nothing recomputed, same results.
  const std::string before = test::read_bytes(o.out / "inpaint.csv");
  auto again = run_inpaint(o);
  EXPECT_EQ(again.computed, 0);
  EXPECT_EQ(again.cached, 6);
  EXPECT_EQ(test::read_bytes(o.out / "inpaint.csv"), before);

  // More targets: only the new ones are attacked; the old ones keep their numbers.
  o.attack.n_targets = 10;
  auto more = run_inpaint(o);
  EXPECT_EQ(more.cached, 6);
  EXPECT_EQ(more.computed, 4);
  auto csv10 = lines(o.out / "inpaint.csv");
  ASSERT_EQ(csv10.size(), 11u);
  EXPECT_EQ(count_files(o.out / "strips", ".png"), 4u);  // --show 2 still: no stale strips
  for (size_t i = 1; i < csv.size(); ++i) {
    const std::string tail = csv[i].substr(csv[i].find(','));
    bool found = false;
    for (auto& l : csv10) found |= l.substr(l.find(',')) == tail;
    EXPECT_TRUE(found) << csv[i];
  }

  // Other options: every target is attacked again.
  o.attack.n_targets = 6;
  o.attack.candidates = 4;
  auto changed = run_inpaint(o);
  EXPECT_EQ(changed.computed, 6);
  EXPECT_EQ(changed.cached, 0);
}

TEST_F(InpaintRun, BatchSizeDoesNotChangeResults) {
  auto o = options();
  o.out = tmp_ / "a";
  run_inpaint(o);
  o.out = tmp_ / "b";
  o.attack.inpaint.batch = 1;
  run_inpaint(o);
  auto a = lines(tmp_ / "a" / "inpaint.csv"), b = lines(tmp_ / "b" / "inpaint.csv");
  ASSERT_EQ(a.size(), b.size());
  // A different batch may round differently inside the convolutions; the completions agree to
  // float precision, so the distances agree to many digits.
  for (size_t i = 1; i < a.size(); ++i) {
    auto fa = fields(a[i]), fb = fields(b[i]);
    EXPECT_EQ(fa[1], fb[1]);
    for (size_t k = 4; k < fa.size(); ++k)
      EXPECT_NEAR(std::stod(fa[k]), std::stod(fb[k]), 1e-5) << a[i] << " vs " << b[i];
  }
}

TEST_F(InpaintRun, GroundTruthFallsBackToTheDatasetAndIsRequired) {
  auto o = options();
  fs::remove(tmp_ / "model" / "members.npy");
  auto msg = test::error_of([&] { run_inpaint(o); });
  EXPECT_NE(msg.find("members.npy"), std::string::npos) << msg;

  std::vector<bool> flipped(16);
  for (int i = 0; i < 16; ++i) flipped[i] = !members_[i];
  auto ds = ds_;
  ds.members = flipped;
  data::save_dataset(tmp_ / "data", ds);
  auto r = run_inpaint(o);
  EXPECT_EQ(r.ground_truth, (tmp_ / "data" / "members.npy").string());
  for (auto& l : lines(o.out / "inpaint.csv")) {
    if (l[0] == 't') continue;
    auto f = fields(l);
    EXPECT_EQ(f[3] == "1", flipped[std::stoll(f[1])]);
  }
}

TEST_F(InpaintRun, ErrorsNameTheCulprit) {
  auto o = options();
  // A model for other images.
  model::save_unet2d(*test::tiny_unet(16, 1, 3), tmp_ / "big");
  data::save_members(tmp_ / "big", members_);
  o.model = tmp_ / "big";
  auto msg = test::error_of([&] { run_inpaint(o); });
  EXPECT_NE(msg.find("big"), std::string::npos) << msg;

  o = options();
  o.attack.mask = "nowhere.png";
  msg = test::error_of([&] { run_inpaint(o); });
  EXPECT_NE(msg.find("--mask"), std::string::npos) << msg;

  o = options();
  o.attack.keep = 4;
  msg = test::error_of([&] { run_inpaint(o); });
  EXPECT_NE(msg.find("keep"), std::string::npos) << msg;

  // Everyone a member: nothing to compare against.
  o = options();
  data::save_members(tmp_ / "model", std::vector<bool>(16, true));
  msg = test::error_of([&] { run_inpaint(o); });
  EXPECT_NE(msg.find("members.npy"), std::string::npos) << msg;

  // A corrupt cached result is attacked again, not trusted.
  o = options();
  data::save_members(tmp_ / "model", members_);
  run_inpaint(o);
  for (auto& e : fs::directory_iterator(o.out / "targets"))
    if (e.path().extension() == ".json") test::write_bytes(e.path(), "{\"key\": ");
  auto r = run_inpaint(o);
  EXPECT_EQ(r.computed, 6);
}

}  // namespace
}  // namespace diffmem::attack
