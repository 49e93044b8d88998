// The text-to-image attacks point the right way on a model where the truth is known, at CTest
// size: `diffmem audit --conditioning text` on the built-in Fashion-MNIST with generated captions,
// SETTINGS below (two image-caption pairs planted many times among images seen once, a held-out
// set of captions), then the direction of each result the issue names:
//   - the first-step screen ranks the planted captions above the rest (Wen et al. AUC > 0.5);
//   - generate-and-filter extracts at least one planted image (a flagged clique whose medoid is
//     within delta of the caption's own training image);
//   - membership inference scores members above held-out examples (loss with the caption, AUC > 0.5).
// Only directions are asserted: the strength of each attack is measured by
// experiments/text_to_image/run.sh (README). Measured with these settings on 2026-12-03 (2 cores,
// 3 min 30 s): Wen AUC 0.789 (2 planted of 40 captions), 1 of the 2 planted images extracted (plus
// 3 cliques of held-out or seen-once captions that match no training image), loss AUC 0.925. The
// clique is 3 of 16 generations: at 1200 training steps the planted image's clique was 3 as well,
// and none reached 4.
#include <gtest/gtest.h>

#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using io::Json;

const std::string kSettings =
    " --conditioning text --n 24 --holdout 16 --duplicate-counts 1,16 --set builtin.duplicate_picks=2"
    " --preset tiny --steps 600 --batch 16 --per-prompt 16 --sample-steps 10 --guidance 3 --min-clique 3"
    " --draws 4 --seed 0";

TEST(AuditTextDirection, PlantedCaptionsRankHigherAreExtractedAndMembersScoreAbove) {
  if (!fs::exists(test::kFashionMnist / "train-images-idx3-ubyte.gz")) GTEST_SKIP() << "no " << test::kFashionMnist;
  test::TempDir tmp;
  const fs::path run = tmp.path() / "run";
  const auto r = test::run_diffmem("--threads 1 audit --run " + test::shell_quote(run.string()) + kSettings);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json s = io::read_json(run / "summary.json");

  const Json& wen = s.at("screen").at("detectors").at("wen");
  ASSERT_TRUE(wen.at("auc").is_number()) << s.at("screen").dump();
  EXPECT_EQ(wen.at("members"), 2);  // the planted captions are the screen's positives
  EXPECT_GT(wen.at("auc").get<double>(), 0.5) << s.at("screen").dump();

  const Json& e = s.at("text_to_image").at("extraction");
  EXPECT_GE(e.at("extracted_memorized").get<int64_t>(), 1) << e.dump();

  const Json& loss = s.at("mia").at("loss");
  EXPECT_GT(loss.at("auc").get<double>(), 0.5) << s.at("mia").dump();
}

}  // namespace
}  // namespace diffmem
