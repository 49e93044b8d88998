// `diffmem train-feature-net` and `diffmem quality` as a user runs them on Fashion-MNIST: the
// distance between two random draws of the data is far smaller than between the data and two of
// its classes, saved statistics give the same distance again, and bad launches fail before any
// image goes through a network.
#include <gtest/gtest.h>

#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using test::shell_quote;

TEST(QualityCli, SameDataIsCloserThanTwoClassesAndStatisticsAreReused) {
  if (!fs::exists(test::kFashionMnist)) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  test::TempDir tmp;
  auto run = [&](const std::string& args) {
    const auto r = test::run_diffmem(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    return r;
  };
  run("data import --from fashion-mnist --split test --out " + test::quoted(tmp / "fm"));
  run("data subset --data " + test::quoted(tmp / "fm") + " --n 1200 --seed 1 --out " + test::quoted(tmp / "ref"));
  run("data subset --data " + test::quoted(tmp / "fm") + " --n 400 --seed 2 --out " + test::quoted(tmp / "same"));
  run("data subset --data " + test::quoted(tmp / "fm") + " --n 400 --classes 0,1 --seed 3 --out " + test::quoted(tmp / "two"));
  const auto t = run("train-feature-net --data " + test::quoted(tmp / "ref") + " --epochs 2 --width 8 --out " + test::quoted(tmp / "net"));
  EXPECT_NE(t.output.find("held-out images"), std::string::npos) << t.output;

  const auto same = run("quality --generations " + test::quoted(tmp / "same") + " --reference " + test::quoted(tmp / "ref") +
                        " --feature-net " + test::quoted(tmp / "net") + " --kid-subsets 20 --out " + test::quoted(tmp / "q-same"));
  EXPECT_NE(same.output.find("FD in dataset-net"), std::string::npos) << same.output;
  EXPECT_EQ(same.output.find("FID"), std::string::npos) << "a data-set net's distance is never called FID";
  const io::Json js = io::read_json(tmp / "q-same" / "summary.json");
  EXPECT_EQ(js["metric"], "FD");
  EXPECT_EQ(js["generated"], 400);
  EXPECT_EQ(js["reference"], 1200);
  for (const char* f : {"mu.npy", "sigma.npy", "features.npy", "stats.json"})
    EXPECT_TRUE(fs::exists(tmp / "q-same" / "reference-stats" / f)) << f;

  const auto two = run("quality --generations " + test::quoted(tmp / "two") + " --reference " + test::quoted(tmp / "q-same" / "reference-stats") +
                       " --feature-net " + test::quoted(tmp / "net") + " --kid-subsets 20 --out " + test::quoted(tmp / "q-two"));
  const io::Json jt = io::read_json(tmp / "q-two" / "summary.json");
  EXPECT_GT(jt["fd"].get<double>(), 5 * js["fd"].get<double>()) << same.output << two.output;
  EXPECT_GT(jt["kid"]["mean"].get<double>(), js["kid"]["mean"].get<double>());
  EXPECT_LT(jt["precision_recall"]["recall"].get<double>(), js["precision_recall"]["recall"].get<double>());

  // The same comparison from saved statistics gives the same distance.
  run("quality --generations " + test::quoted(tmp / "same") + " --reference " + test::quoted(tmp / "q-same" / "reference-stats") +
      " --feature-net " + test::quoted(tmp / "net") + " --kid-subsets 20 --out " + test::quoted(tmp / "q-again"));
  EXPECT_NEAR(io::read_json(tmp / "q-again" / "summary.json")["fd"].get<double>(), js["fd"].get<double>(),
              1e-9 * js["fd"].get<double>());

  // Bad launches: no feature net, two of them, statistics from another space, images the net
  // cannot read — each one line, no summary written.
  auto fails = [&](const std::string& args, const std::string& says) {
    const auto r = test::run_diffmem(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find(says), std::string::npos) << args << "\n" << r.output;
  };
  const std::string base = "quality --generations " + test::quoted(tmp / "same") + " --out " + test::quoted(tmp / "bad");
  fails(base + " --reference " + test::quoted(tmp / "ref"), "exactly one feature net");
  fails(base + " --reference " + test::quoted(tmp / "ref") + " --feature-net " + test::quoted(tmp / "net") + " --inception-weights x.safetensors",
        "exactly one feature net");
  fails(base + " --reference " + test::quoted(tmp / "nothing") + " --feature-net " + test::quoted(tmp / "net"), "--reference");
  fails(base + " --reference " + test::quoted(tmp / "ref") + " --feature-net " + test::quoted(tmp / "fm"), "config.json");
  io::Json stats = io::read_json(tmp / "q-same" / "reference-stats" / "stats.json");
  stats["features"] = "Inception-v3 pool3 (pytorch-fid)";
  io::write_json(tmp / "q-same" / "reference-stats" / "stats.json", stats);
  fails(base + " --reference " + test::quoted(tmp / "q-same" / "reference-stats") + " --feature-net " + test::quoted(tmp / "net"),
        "statistics of Inception-v3");
  EXPECT_FALSE(fs::exists(tmp / "bad" / "summary.json"));
}

}  // namespace
}  // namespace diffmem
