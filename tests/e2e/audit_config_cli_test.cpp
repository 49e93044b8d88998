// `diffmem audit --print-config` and `--config`: one run seed whichever way it came, and a typo in
// a config file is a one-line error naming the key and the file.
#include <gtest/gtest.h>

#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem {
namespace {
using io::Json;
using test::shell_quote;

TEST(AuditConfigCli, SeedFromAFileAndFromTheFlagPrintTheSameConfig) {
  test::TempDir tmp;
  test::write_bytes(tmp / "seed7.json", R"({"seed": 7})");
  const auto file = test::run_diffmem("audit --run " + shell_quote((tmp / "a").string()) +
                                      " --config " + shell_quote((tmp / "seed7.json").string()) +
                                      " --print-config");
  const auto flag = test::run_diffmem("audit --run " + shell_quote((tmp / "b").string()) +
                                      " --seed 7 --print-config");
  ASSERT_EQ(file.exit_code, 0) << file.output;
  ASSERT_EQ(flag.exit_code, 0) << flag.output;
  EXPECT_EQ(file.output, flag.output);
  const Json j = Json::parse(file.output);
  EXPECT_EQ(j["seed"], 7);
  EXPECT_EQ(j["train"]["seed"], 7);
  EXPECT_EQ(j["mia"]["loss"]["seed"], 7);
  EXPECT_EQ(j["inpaint"]["attack"]["seed"], 7);
  EXPECT_FALSE(j["train"].contains("device")) << "one device for the run, at the top";
}

TEST(AuditConfigCli, AnUnknownKeyInAConfigFileIsOneLineNamingKeyAndFile) {
  test::TempDir tmp;
  const std::string cfg = (tmp / "typo.json").string();
  test::write_bytes(cfg, R"({"seed": 7, "train": {"stpes": 10}})");
  const auto r = test::run_diffmem("audit --run " + shell_quote((tmp / "r").string()) + " --config " +
                                   shell_quote(cfg) + " --print-config");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(cfg), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train.stpes"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << "one line: " << r.output;

  const std::string tcfg = (tmp / "train.json").string();
  test::write_bytes(tcfg, R"({"stpes": 10})");
  const auto t = test::run_diffmem("train --data " + shell_quote((tmp / "none").string()) + " --out " +
                                   shell_quote((tmp / "m").string()) + " --config " + shell_quote(tcfg));
  EXPECT_NE(t.exit_code, 0);
  EXPECT_NE(t.output.find(tcfg), std::string::npos) << t.output;
  EXPECT_NE(t.output.find("stpes"), std::string::npos) << t.output;
}

TEST(AuditConfigCli, SetReachesAnyOptionAndRefusesUnknownKeysAndWrongTypes) {
  test::TempDir tmp;
  const std::string run = shell_quote((tmp / "r").string());
  const auto r = test::run_diffmem("audit --run " + run + " --print-config --set train.ema_decay=0.9999"
                                   " --set blackbox.analysis.tiles.grid=2 --set inpaint.attack.mask=top"
                                   " --set sample.clip=false");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json j = Json::parse(r.output);
  EXPECT_EQ(j["train"]["ema_decay"], 0.9999);
  EXPECT_EQ(j["blackbox"]["analysis"]["tiles"]["grid"], 2);
  EXPECT_EQ(j["inpaint"]["attack"]["mask"], "top");
  EXPECT_EQ(j["sample"]["clip"], false);

  const auto unknown = test::run_diffmem("audit --run " + run + " --print-config --set train.stpes=3");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("'train.stpes'"), std::string::npos) << unknown.output;
  const auto type = test::run_diffmem("audit --run " + run + " --print-config --set train.steps=1.5");
  EXPECT_NE(type.exit_code, 0);
  EXPECT_NE(type.output.find("train.steps: expected an integer, found 1.5"), std::string::npos)
      << type.output;
  const auto device = test::run_diffmem("audit --run " + run + " --print-config --set train.device=cpu");
  EXPECT_NE(device.exit_code, 0);
  EXPECT_NE(device.output.find("top-level 'device'"), std::string::npos) << device.output;
  const auto bad = test::run_diffmem("audit --run " + run + " --print-config --set steps");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--set: expected KEY=VALUE"), std::string::npos) << bad.output;
}

TEST(AuditConfigCli, EveryCommandWithAFieldListTakesSetAndRefusesUnknownKeys) {
  test::TempDir tmp;
  const std::string d = shell_quote((tmp / "none").string());
  const std::pair<std::string, std::string> commands[] = {
      {"extract --generations " + d + " --train " + d + " --out " + d, "knn.kk"},
      {"dedup --data " + d + " --out " + d, "knn.kk"},
      {"sample --model " + d + " --out " + d, "sample.stepz"},
      {"mia loss --data " + d + " --target " + d + " --out " + d, "loss.tt"},
      {"inpaint --model " + d + " --data " + d + " --out " + d, "attack.maskk"},
      {"extract-blackbox --shards " + d + " --out " + d, "analysis.min_cliquee"}};
  for (const auto& [command, key] : commands) {
    const auto r = test::run_diffmem(command + " --set " + key + "=1");
    EXPECT_NE(r.exit_code, 0) << command;
    EXPECT_NE(r.output.find("--set: expected a known option, found unknown key '" + key + "'"),
              std::string::npos)
        << command << ": " << r.output;
  }
}

}  // namespace
}  // namespace diffmem
