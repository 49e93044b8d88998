// AuditOptions ↔ audit.json and the run layout (the pipeline itself runs in tests/e2e).
#include "diffmem/attack/audit.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;
using io::Json;

std::string error_of(const Json& j) {
  try {
    audit_options_from_json(j, "my/audit.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AuditOptions, DefaultsAreTheDemoSetting) {
  const AuditOptions o;
  EXPECT_EQ(o.train.preset, "small");
  EXPECT_EQ(o.train.steps, 3000);
  EXPECT_EQ(o.sample.sample.sampler, "ddim");
  EXPECT_EQ(o.sample.sample.steps, 50);
  EXPECT_EQ(o.builtin.duplicate_counts, (std::vector<int64_t>{1, 2, 4, 8, 16}));
  EXPECT_EQ(o.shadows, 0);
  EXPECT_EQ(audit_stages(), (std::vector<std::string>{"data", "train", "sample", "extract", "blackbox",
                                                       "mia", "inpaint", "report"}));
}

TEST(AuditOptions, JsonRoundTripAndPartialFiles) {
  AuditOptions o;
  o.data = "/d";
  o.seed = 9;
  o.builtin.n = 7;
  o.builtin.duplicate_counts = {3, 5};
  o.train.steps = 11;
  o.train.lr = 5e-4;
  o.shadows = 4;
  o.sample.n = 33;
  o.sample.sample.sampler = "ddpm";
  o.extract.delta = 0.2;
  o.extract.calibrated_threshold = 0.4;
  o.blackbox.analysis.min_clique = 6;
  o.mia.loss.t = 200;
  o.mia.lira_statistic = "raw";
  o.inpaint.attack.mask = "top";
  o.inpaint.attack.inpaint.steps = 7;
  o.inpaint.show = 3;
  const Json j = to_json(o);
  const AuditOptions back = audit_options_from_json(j, "x");
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(*back.extract.calibrated_threshold, 0.4);

  // A partial file changes only what it names.
  const AuditOptions p = audit_options_from_json({{"train", {{"steps", 12}}}, {"sample", {{"n", 5}}}}, "x");
  EXPECT_EQ(p.train.steps, 12);
  EXPECT_EQ(p.train.preset, "small");
  EXPECT_EQ(p.sample.n, 5);
  EXPECT_EQ(p.sample.sample.steps, 50);
  EXPECT_EQ(to_json(audit_options_from_json(Json::object(), "x")), to_json(AuditOptions()));
}

TEST(AuditOptions, TyposAndWrongTypesNameFileAndKey) {
  std::string e = error_of({{"train", {{"stpes", 10}}}});
  EXPECT_NE(e.find("my/audit.json"), std::string::npos) << e;
  EXPECT_NE(e.find("train.stpes"), std::string::npos) << e;
  e = error_of({{"shadow", 2}});
  EXPECT_NE(e.find("'shadow'"), std::string::npos) << e;
  e = error_of({{"sample", 5}});
  EXPECT_NE(e.find("sample"), std::string::npos) << e;
  e = error_of({{"shadows", "two"}});
  EXPECT_NE(e.find("my/audit.json"), std::string::npos) << e;
  e = error_of({{"shadows", -1}});
  EXPECT_NE(e.find("shadows"), std::string::npos) << e;
  e = error_of({{"mia", {{"lira_statistic", "odd"}}}});
  EXPECT_NE(e.find("lira_statistic"), std::string::npos) << e;
  EXPECT_NE(error_of(Json::array()), "");
}

TEST(AuditPaths, RunJsonIsRelativeInsideTheRun) {
  test::TempDir tmp;
  AuditOptions o;
  RunPaths p = run_paths(tmp / "run", o);
  EXPECT_EQ(p.data, tmp / "run" / "data");
  EXPECT_EQ(p.train_data, tmp / "run" / "train-data");
  Json j = to_json(p);
  EXPECT_EQ(j["data"], "data");
  EXPECT_EQ(j["model"], "model");
  EXPECT_EQ(j["report"], "report.html");

  // A given data set without members.npy is its own training set; a given model stays where it is.
  fs::create_directories(tmp / "mine");
  o.data = (tmp / "mine").string();
  o.model = (tmp / "m").string();
  p = run_paths(tmp / "run", o);
  EXPECT_EQ(p.train_data, tmp / "mine");
  j = to_json(p);
  EXPECT_EQ(j["data"], (tmp / "mine").string());
  EXPECT_EQ(j["model"], (tmp / "m").string());
  test::write_bytes(tmp / "mine" / "members.npy", "x");
  EXPECT_EQ(run_paths(tmp / "run", o).train_data, tmp / "run" / "train-data");
}

}  // namespace
}  // namespace diffmem::attack
