// `diffmem split-check` on Fashion-MNIST as a user runs it: a split by class (members from five
// classes, non-members from the other five: a split by source) is flagged; a seeded random half is
// not; bad launches name the flag.
#include <gtest/gtest.h>

#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using test::shell_quote;

TEST(SplitCheckCli, FlagsASplitByClassAndNotARandomHalf) {
  if (!fs::exists(test::kFashionMnist)) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  test::TempDir tmp;
  auto run = [&](const std::string& args) {
    const auto r = test::run_diffmem(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    return r;
  };
  run("data import --from fashion-mnist --split test --out " + test::quoted(tmp / "fm"));
  run("data subset --data " + test::quoted(tmp / "fm") + " --n 300 --classes 0,1,2,3,4 --seed 1 --out " + test::quoted(tmp / "a"));
  run("data subset --data " + test::quoted(tmp / "fm") + " --n 300 --classes 5,6,7,8,9 --seed 2 --out " + test::quoted(tmp / "b"));
  run("data subset --data " + test::quoted(tmp / "fm") + " --n 600 --split half --seed 3 --out " + test::quoted(tmp / "half"));

  const auto biased = run("split-check --members-data " + test::quoted(tmp / "a") + " --nonmembers-data " + test::quoted(tmp / "b") +
                          " --bootstrap 300 --out " + test::quoted(tmp / "sc-biased"));
  EXPECT_NE(biased.output.find("biased split"), std::string::npos) << biased.output;
  const io::Json jb = io::read_json(tmp / "sc-biased" / "split-check.json");
  EXPECT_EQ(jb["biased"], true);
  EXPECT_GT(jb["auc"].get<double>(), 0.8);
  EXPECT_EQ(jb["members"], 300);
  EXPECT_EQ(jb["nonmembers"], 300);

  const auto random = run("split-check --data " + test::quoted(tmp / "half") + " --bootstrap 300 --out " + test::quoted(tmp / "sc-half"));
  EXPECT_NE(random.output.find("no sign of a biased split"), std::string::npos) << random.output;
  const io::Json jr = io::read_json(tmp / "sc-half" / "split-check.json");
  EXPECT_EQ(jr["biased"], false);
  EXPECT_LE(jr["ci"]["auc"][0].get<double>(), 0.5);
  EXPECT_TRUE(fs::is_regular_file(tmp / "sc-half" / "scores.csv"));

  auto bad = test::run_diffmem("split-check --data " + test::quoted(tmp / "half") + " --members-data " + test::quoted(tmp / "a") +
                               " --out " + test::quoted(tmp / "x"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("split-check"), std::string::npos) << bad.output;
  bad = test::run_diffmem("split-check --data " + test::quoted(tmp / "a") + " --out " + test::quoted(tmp / "x"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("members.npy"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace diffmem
