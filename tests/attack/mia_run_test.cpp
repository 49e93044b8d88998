// A whole `diffmem mia` run at the library level, on tiny random models saved as diffusers folders
// with their members.npy: outputs, ground truth, shadow discovery, the score cache, errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "diffmem/attack/mia_run.h"
#include "diffmem/core/error.h"
#include "diffmem/model/checkpoint.h"
#include "mia_test_util.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> mia_lines(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

size_t count_mia_files(const fs::path& dir, const std::string& ext) {
  size_t n = 0;
  if (!fs::is_directory(dir)) return 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ext;
  return n;
}

// data/ (16 images 8×8×1) and models/model-000..003, each a tiny UNet with its own random half.
class MiaRun : public ::testing::Test {
 protected:
  void SetUp() override {
    ds_ = test::random_dataset(16, 8, 1, 31);
    data::save_dataset(tmp_ / "data", ds_);
    for (int k = 0; k < 4; ++k) {
      fs::path dir = tmp_ / "models" / ("model-00" + std::to_string(k));
      model::save_unet2d(*test::tiny_unet(8, 1, 100 + k), dir);
      std::vector<bool> m(16);
      for (int i = 0; i < 16; ++i) m[i] = ((i * 7 + k * 3) % 16) < 8;
      data::save_members(dir, m);
      masks_.push_back(m);
    }
  }
  MiaRunOptions options(const std::string& attack) {
    MiaRunOptions o;
    o.attack = attack;
    o.data = tmp_ / "data";
    o.target = tmp_ / "models" / "model-000";
    o.shadows = tmp_ / "models";
    o.out = tmp_ / "out";
    o.loss.draws = 2;
    o.loss.batch = 64;
    return o;
  }
  test::TempDir tmp_;
  data::Dataset ds_;
  std::vector<std::vector<bool>> masks_;
};

TEST_F(MiaRun, LiraWritesEveryOutputAndReusesCachedScores) {
  auto o = options("lira");
  auto r = run_mia(o);
  EXPECT_EQ(r.shadows, 3);  // the target, model-000, is not its own shadow
  EXPECT_EQ(r.members, 8);
  EXPECT_EQ(r.nonmembers, 8);
  ASSERT_EQ(r.attacks.size(), 2u);
  EXPECT_EQ(r.attacks[0].name, "lira-online");
  EXPECT_EQ(r.attacks[1].name, "lira-offline");

  auto csv = mia_lines(o.out / "lira-online" / "scores.csv");
  ASSERT_EQ(csv.size(), 17u);
  EXPECT_EQ(csv[0], "row,id,score,member");
  for (int i = 0; i < 16; ++i) {
    std::stringstream ss(csv[i + 1]);
    std::string row, id, score, member;
    std::getline(ss, row, ',');
    std::getline(ss, id, ',');
    std::getline(ss, score, ',');
    std::getline(ss, member, ',');
    EXPECT_EQ(row, std::to_string(i));
    EXPECT_EQ(id, std::to_string(ds_.ids[i]));
    EXPECT_TRUE(std::isfinite(std::stod(score)));
    EXPECT_EQ(member, masks_[0][i] ? "1" : "0");
  }
  auto roc = metrics::read_roc_csv(o.out / "lira-online" / "roc.csv");
  EXPECT_NEAR(roc.auc(), r.attacks[0].summary.auc, 1e-12);
  auto j = io::read_json(o.out / "lira-offline" / "summary.json");
  EXPECT_EQ(j.at("attack"), "lira-offline");
  EXPECT_EQ(j.at("options").at("lira").at("online"), false);
  EXPECT_EQ(j.at("options").at("lira").at("statistic"), "logit");
  EXPECT_EQ(j.at("shadows").size(), 3u);
  EXPECT_DOUBLE_EQ(j.at("auc").get<double>(), r.attacks[1].summary.auc);
  EXPECT_TRUE(j.contains("tpr_at_fpr_0.001"));
  EXPECT_TRUE(j.contains("balanced_accuracy"));
  EXPECT_EQ(j.at("details").at("shadows"), 3);

  // Four models scored once: online and offline share them.
  EXPECT_EQ(count_mia_files(o.out / "cache", ".npy"), 4u);
  auto first = j.at("timing").at("models");
  ASSERT_EQ(first.size(), 4u);
  for (auto& m : first) EXPECT_EQ(m.at("cached"), true);  // offline ran after online
  auto online_models = io::read_json(o.out / "lira-online" / "summary.json").at("timing").at("models");
  for (auto& m : online_models) EXPECT_EQ(m.at("cached"), false);

  // A rerun recomputes nothing and writes the same scores.
  const std::string before = test::read_bytes(o.out / "lira-online" / "scores.csv");
  run_mia(o);
  EXPECT_EQ(test::read_bytes(o.out / "lira-online" / "scores.csv"), before);
  // (The summary is held in a variable: a range-for over .at() of a temporary reads freed memory,
  // which the ASan suite found.)
  const io::Json rerun = io::read_json(o.out / "lira-online" / "summary.json");
  for (auto& m : rerun.at("timing").at("models")) EXPECT_EQ(m.at("cached"), true);
  // Other options are another cache entry.
  o.loss.draws = 3;
  run_mia(o);
  EXPECT_EQ(count_mia_files(o.out / "cache", ".npy"), 8u);
}

TEST_F(MiaRun, LossScoresAreTheNegatedLossAndTheSweepCoversEachT) {
  auto o = options("loss");
  o.t_sweep = {50, 300};
  auto r = run_mia(o);
  ASSERT_EQ(r.attacks.size(), 1u);
  auto d = model::load_denoiser(o.target);
  diffusion::NoiseSchedule sched;
  auto loss = loss_errors(*d, sched, ds_, o.loss);
  auto csv = mia_lines(o.out / "loss" / "scores.csv");
  for (int i = 0; i < 16; ++i) {
    std::string score = csv[i + 1].substr(0, csv[i + 1].rfind(','));
    score = score.substr(score.rfind(',') + 1);
    EXPECT_DOUBLE_EQ(std::stod(score), -loss[i]) << i;
  }
  ASSERT_EQ(r.sweep.size(), 2u);
  EXPECT_EQ(r.sweep[0].t, 50);
  EXPECT_EQ(r.sweep[1].t, 300);
  auto sweep = mia_lines(o.out / "t-sweep-loss.csv");
  ASSERT_EQ(sweep.size(), 3u);
  EXPECT_EQ(sweep[0],
            "attack,t,auc,tpr_at_fpr_0.001,tpr_at_fpr_0.01,balanced_accuracy,auc_low,auc_high,"
            "tpr_at_fpr_0.01_low,tpr_at_fpr_0.01_high");
  EXPECT_EQ(sweep[1].substr(0, 8), "loss,50,");
  EXPECT_EQ(io::read_json(o.out / "loss" / "summary.json").at("t_sweep").size(), 2u);
  EXPECT_EQ(count_mia_files(o.out / "cache", ".npy"), 3u);  // t = 100, 50, 300
}

TEST_F(MiaRun, SecMiAndPiaRunThroughTheSameInterface) {
  for (std::string kind : {"secmi", "pia"}) {
    auto o = options(kind);
    o.secmi.t = 30;  // 4 forward passes per image keeps the test fast
    auto r = run_mia(o);
    ASSERT_EQ(r.attacks.size(), 1u);
    EXPECT_EQ(r.attacks[0].name, kind);
    EXPECT_GE(r.attacks[0].summary.auc, 0.0);
    EXPECT_LE(r.attacks[0].summary.auc, 1.0);
    EXPECT_EQ(mia_lines(o.out / kind / "scores.csv").size(), 17u);
  }
}

TEST_F(MiaRun, ARetrainedModelIsRescored) {
  auto o = options("loss");
  auto a = run_mia(o).attacks[0].summary;
  auto before = test::read_bytes(o.out / "loss" / "scores.csv");
  model::save_unet2d(*test::tiny_unet(8, 1, 999), o.target);  // new weights, same folder
  run_mia(o);
  EXPECT_EQ(io::read_json(o.out / "loss" / "summary.json").at("timing").at("models")[0].at("cached"),
            false);
  EXPECT_NE(test::read_bytes(o.out / "loss" / "scores.csv"), before);
  (void)a;
}

TEST_F(MiaRun, MissingInputsAreErrorsNamingThem) {
  auto o = options("lira");
  o.shadows.clear();
  EXPECT_NE(test::error_of([&] { run_mia(o); }).find("--shadows"), std::string::npos);

  o = options("loss");
  fs::remove(o.target / "members.npy");
  EXPECT_NE(test::error_of([&] { run_mia(o); }).find("members.npy"), std::string::npos);
  // An explicit ground truth works instead.
  o.members = tmp_ / "models" / "model-001" / "members.npy";
  EXPECT_NO_THROW(run_mia(o));

  o = options("lira");
  o.target = tmp_ / "models" / "model-001";
  fs::remove(tmp_ / "models" / "model-000" / "members.npy");  // now a shadow without a mask
  auto msg = test::error_of([&] { run_mia(o); });
  EXPECT_NE(msg.find("model-000"), std::string::npos) << msg;

  o = options("nope");
  EXPECT_NE(test::error_of([&] { run_mia(o); }).find("loss, lira, secmi or pia"),
            std::string::npos);

  o = options("loss");
  data::save_members(o.target, std::vector<bool>(16, true));
  EXPECT_NE(test::error_of([&] { run_mia(o); }).find("non-members"), std::string::npos);
}

TEST_F(MiaRun, ShadowFoldersAreSortedAndSkipTheTarget) {
  auto v = list_model_folders(tmp_ / "models", tmp_ / "models" / "model-002");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].filename(), "model-000");
  EXPECT_EQ(v[2].filename(), "model-003");
  fs::create_directories(tmp_ / "models" / "not-a-model");
  EXPECT_EQ(list_model_folders(tmp_ / "models", {}).size(), 4u);
  EXPECT_THROW(list_model_folders(tmp_ / "nowhere", {}), Error);
}

// Every summary carries its uncertainty, its protocol and its cost: bootstrap intervals (and
// null for TPRs that 8 non-members cannot measure), the calibrated-threshold protocol, the split
// check and the model evaluations; the ROC band is written beside the curve.
TEST_F(MiaRun, SummariesCarryIntervalsProtocolSplitCheckAndCost) {
  auto o = options("loss");
  o.calibrate_on = 0.5;
  o.bootstrap.resamples = 200;
  auto r = run_mia(o);
  ASSERT_TRUE(r.attacks[0].summary.ci);
  const auto j = io::read_json(o.out / "loss" / "summary.json");
  ASSERT_TRUE(j.at("ci").at("auc").is_array());
  EXPECT_LE(j["ci"]["auc"][0].get<double>(), j["auc"].get<double>() + 1e-12);
  EXPECT_GE(j["ci"]["auc"][1].get<double>(), j["auc"].get<double>() - 1e-12);
  EXPECT_EQ(j["ci"]["resamples"], 200);
  EXPECT_TRUE(j["tpr_at_fpr_0.01"].is_null());
  EXPECT_TRUE(j["ci"]["tpr_at_fpr_0.01"].is_null());
  EXPECT_DOUBLE_EQ(j["min_measurable_fpr"].get<double>(), 1.0 / 8);
  // Calibration on 4 + 4, held out 4 + 4.
  EXPECT_EQ(j["calibrated"]["calibration"]["members"], 4);
  EXPECT_EQ(j["calibrated"]["test"]["nonmembers"], 4);
  ASSERT_EQ(j["calibrated"]["thresholds"].size(), 3u);
  EXPECT_EQ(j["calibrated"]["thresholds"][0]["measurable"], false);  // 1% of 4
  // The split check ran on the same rows (random images: nothing to find).
  ASSERT_TRUE(fs::is_regular_file(o.out / "split-check.json"));
  EXPECT_TRUE(j["split_check"].contains("verdict"));
  EXPECT_EQ(io::read_json(o.out / "split-check.json")["members"], 8);
  // Cost: 16 examples × 2 draws.
  EXPECT_EQ(j["timing"]["model_evaluations"], 32);
  EXPECT_EQ(j["timing"]["model_evaluations_computed"], 32);
  EXPECT_GT(j["timing"]["peak_rss_bytes"].get<int64_t>(), 0);
  const auto band = metrics::read_roc_band_csv((o.out / "loss" / "roc_band.csv").string());
  EXPECT_DOUBLE_EQ(band.fpr.front(), 1.0 / 8);
  // A rerun reads the scores from the cache: the same numbers, no model evaluations computed.
  run_mia(o);
  const auto k = io::read_json(o.out / "loss" / "summary.json");
  EXPECT_EQ(k["ci"], j["ci"]);
  EXPECT_EQ(k["calibrated"], j["calibrated"]);
  EXPECT_EQ(k["timing"]["model_evaluations_computed"], 0);
  // Bad statistics options fail before any model runs.
  o.calibrate_on = 1.5;
  EXPECT_NE(test::error_of([&] { run_mia(o); }).find("--calibrate-on"), std::string::npos);
}

}  // namespace
}  // namespace diffmem::attack
