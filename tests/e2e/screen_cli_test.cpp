// `diffmem screen` on the tiny SD-1.x pipeline: a ranked CSV (prompts escaped as CSV fields),
// summary.json with the cost and, with a 0/1 label column, each detector's ROC figures; bad
// labels and a missing prompt column refused with the file and row named.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "diffmem/io/csv.h"
#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using test::shell_quote;

TEST(ScreenCli, RanksPromptsAndReportsDetectors) {
  test::TempDir tmp;
  const std::string model = test::source_dir() + "/tests/reference/model/sd_tiny_v1";
  test::write_bytes(tmp / "p.csv",
                    "prompt,memorized\n"
                    "\"a cat, on a mat\",1\n"
                    "an owl; rm -rf /,0\n"
                    "\"<b>bold</b> \"\"quoted\"\"\",0\n"
                    "a lighthouse at dusk,1\n");
  const std::string common = "screen --model " + shell_quote(model) + " --prompts " +
                             shell_quote((tmp / "p.csv").string()) +
                             " --per-prompt 2 --steps 4 --first-steps 2 --low-from-end 2 --seed 3";
  auto r = test::run_diffmem(common + " --out " + shell_quote((tmp / "s").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const io::CsvRows rows = io::read_csv(tmp / "s" / "screen.csv");
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"rank", "index", "id", "prompt", "wen", "anisotropy", "first_norm",
                                               "low_cosine", "memorized"}));
  std::vector<std::string> prompts;
  double previous = 1e300;
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i][0], std::to_string(i));
    EXPECT_EQ(rows[i][2], rows[i][1]);  // no id column in the file: the id is the row index
    const double wen = std::stod(rows[i][4]);
    EXPECT_GT(wen, 0);
    EXPECT_LE(wen, previous);  // highest first
    previous = wen;
    const double cosine = std::stod(rows[i][7]);
    EXPECT_GE(cosine, -1);
    EXPECT_LE(cosine, 1);
    prompts.push_back(rows[i][3]);
  }
  std::sort(prompts.begin(), prompts.end());
  EXPECT_EQ(prompts, (std::vector<std::string>{"<b>bold</b> \"quoted\"", "a cat, on a mat", "a lighthouse at dusk",
                                               "an owl; rm -rf /"}));
  const io::Json s = io::read_json(tmp / "s" / "summary.json");
  // 4 prompts x 2 generations x (2 trajectory steps + 1 low-noise pass) x 2 latents per guided call.
  EXPECT_EQ(s.at("unet_images"), 4 * 2 * 3 * 2);
  // PNDM: 4 steps call the U-Net 5 times.
  EXPECT_EQ(s.at("generate_and_filter_unet_images_per_prompt"), 500 * 5 * 2);
  for (const char* d : {"wen", "anisotropy"}) {
    const double auc = s.at("detectors").at(d).at("auc").get<double>();
    EXPECT_GE(auc, 0.0);
    EXPECT_LE(auc, 1.0);
    EXPECT_EQ(s.at("detectors").at(d).at("members"), 2);
  }
  // The same seeds give the same scores.
  r = test::run_diffmem(common + " --batch 3 --out " + shell_quote((tmp / "t").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const io::CsvRows again = io::read_csv(tmp / "t" / "screen.csv");
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(again[i][3], rows[i][3]);
    EXPECT_NEAR(std::stod(again[i][4]), std::stod(rows[i][4]), 1e-5 * std::stod(rows[i][4]));
  }
}

TEST(ScreenCli, BadPromptFilesAreOneLineErrors) {
  test::TempDir tmp;
  const std::string model = test::source_dir() + "/tests/reference/model/sd_tiny_v1";
  auto run = [&](const std::string& name, const std::string& text) {
    test::write_bytes(tmp / name, text);
    return test::run_diffmem("screen --model " + shell_quote(model) + " --prompts " +
                             shell_quote((tmp / name).string()) + " --steps 4 --out " +
                             shell_quote((tmp / "o").string()));
  };
  auto r = run("labels.csv", "prompt,memorized\na,1\nb,yes\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("labels.csv: record 2: memorized"), std::string::npos) << r.output;
  r = run("nocol.csv", "text,memorized\na,1\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("'prompt' or 'caption' column"), std::string::npos) << r.output;
  r = run("empty.jsonl", "\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("at least one prompt"), std::string::npos) << r.output;
  r = run("j.jsonl", "{\"caption\": \"a\", \"memorized\": true}\n{\"caption\": \"b\", \"memorized\": 2}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("j.jsonl:2: memorized"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "o" / "screen.csv"));
}

}  // namespace
}  // namespace diffmem
