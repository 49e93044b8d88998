// `diffmem extract-blackbox --model PIPELINE_FOLDER`: native generate-and-filter with the screen in
// front, from the CLI; flags that do not fit a pipeline folder are one-line errors.
#include <gtest/gtest.h>

#include "diffmem/io/csv.h"
#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using test::shell_quote;

std::string tiny_model() { return test::source_dir() + "/tests/reference/model/sd_tiny_v1"; }

TEST(BlackboxTextToImageCli, ScreensGeneratesAndFilters) {
  test::TempDir tmp;
  test::write_bytes(tmp / "p.jsonl",
                    "{\"id\": \"m1\", \"prompt\": \"a cat, on a mat\", \"memorized\": 1, \"duplicates\": 8}\n"
                    "{\"id\": \"v1\", \"prompt\": \"<script>x</script> $(echo no)\", \"memorized\": 0}\n"
                    "{\"id\": \"v2\", \"prompt\": \"a lighthouse\", \"memorized\": 0}\n");
  const std::string cmd = "extract-blackbox --model " + shell_quote(tiny_model()) + " --prompts " +
                          shell_quote((tmp / "p.jsonl").string()) +
                          " --per-prompt 5 --steps 3 --min-clique 2 --edge-threshold 10 --screen-top 2 "
                          "--screen-per-prompt 1 --low-from-end 1 --out " + shell_quote((tmp / "o").string());
  const auto r = test::run_diffmem(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 of 3 prompt(s) generated"), std::string::npos) << r.output;
  const io::Json s = io::read_json(tmp / "o" / "summary.json");
  EXPECT_EQ(s.at("screen").at("selected"), 2);
  EXPECT_EQ(s.at("flagged"), 2);  // every pair within 10: both generated prompts flagged
  // PNDM, 3 steps: 4 U-Net calls per image, twice the latents with guidance.
  EXPECT_EQ(s.at("cost").at("unet_images_from_scratch"), 3 * 1 * 2 * 2 + 2 * 5 * 4 * 2);
  EXPECT_EQ(s.at("cost").at("unscreened_unet_images"), 3 * 5 * 4 * 2);
  EXPECT_TRUE(s.at("extraction").at("recall").is_number());
  const auto rows = io::read_csv(tmp / "o" / "prompts.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(fs::exists(tmp / "o" / "screen" / "screen.csv"));
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_TRUE(fs::exists(tmp / "o" / "flagged" / (rows[i][1] + ".npy")));
  EXPECT_FALSE(fs::exists(tmp / "o" / "generations"));  // streamed: no image files

  const auto rerun = test::run_diffmem(cmd);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_NE(rerun.output.find("generation 0 this run"), std::string::npos) << rerun.output;
}

TEST(BlackboxTextToImageCli, FlagsThatDoNotFitAreOneLineErrors) {
  test::TempDir tmp;
  test::write_bytes(tmp / "p.csv", "prompt\na cat\n");
  const std::string model = " --model " + shell_quote(tiny_model()) + " --out " + shell_quote((tmp / "o").string());
  auto r = test::run_diffmem("extract-blackbox" + model);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--prompts"), std::string::npos) << r.output;
  r = test::run_diffmem("extract-blackbox" + model + " --prompts " + shell_quote((tmp / "p.csv").string()) +
                        " --screen-top 1 --screen-detector best");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--screen-detector"), std::string::npos) << r.output;
  r = test::run_diffmem("extract-blackbox" + model + " --prompts " + shell_quote((tmp / "p.csv").string()) +
                        " --sampler ddpm");  // a pixel-space sampler for a pipeline folder
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("sampler"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'ddpm'"), std::string::npos) << r.output;
  r = test::run_diffmem("extract-blackbox --model " + shell_quote((tmp / "nothing").string()) + " --sampler pndm --out " +
                        shell_quote((tmp / "o").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--sampler"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace diffmem
