// `diffmem audit` of a text-to-image model end to end, at test size: the built-in Fashion-MNIST
// with generated captions, a tiny text-conditional U-Net trained a few dozen steps, the screen
// over every caption, generate-and-filter, loss and CLiD; then the same model given as --model with
// a prompts file of its own (markup in a prompt). What is checked is the plumbing (stages, files,
// the report's sections and numbers, escaping, resuming), not the attacks' strength (the
// experiment under experiments/text_to_image measures that).
#include <gtest/gtest.h>

#include <regex>

#include "diffmem/io/csv.h"
#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using io::Json;
using test::shell_quote;

const std::string kTinyText =
    " --conditioning text --n 8 --holdout 6 --duplicate-counts 1,6 --preset tiny --steps 24 --batch 8"
    " --per-prompt 4 --sample-steps 3 --guidance 2 --min-clique 2 --draws 2 --seed 5";

bool has_stage(const std::string& out, const std::string& stage, const std::string& state) {
  return std::regex_search(out, std::regex("\\] " + stage + " +" + state));
}

class AuditTextE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(test::kFashionMnist / "train-images-idx3-ubyte.gz")) return;
    tmp_ = new test::TempDir();
    first_ = new test::RunResult(test::run_diffmem("--threads 2 audit --run " + test::quoted(tmp_->path() / "run") + kTinyText));
  }
  static void TearDownTestSuite() {
    delete first_;
    delete tmp_;
    first_ = nullptr;
    tmp_ = nullptr;
  }
  void SetUp() override {
    if (!tmp_) GTEST_SKIP() << "no " << test::kFashionMnist << " (Debian dataset-fashion-mnist)";
    ASSERT_EQ(first_->exit_code, 0) << first_->output;
  }
  static fs::path run() { return tmp_->path() / "run"; }
  static test::TempDir* tmp_;
  static test::RunResult* first_;
};
test::TempDir* AuditTextE2E::tmp_ = nullptr;
test::RunResult* AuditTextE2E::first_ = nullptr;

TEST_F(AuditTextE2E, RunsTheTextToImageStagesAndSaysWhichDoNotApply) {
  const std::string& out = first_->output;
  for (const char* s : {"data", "train", "screen", "blackbox", "mia", "report"})
    EXPECT_TRUE(has_stage(out, s, "done: ")) << s << "\n" << out;
  for (const char* s : {"sample", "extract", "inpaint"})
    EXPECT_TRUE(has_stage(out, s, "not run: a text-to-image model")) << s << "\n" << out;
  // The data set carries captions; the prompts are one per distinct image with the truth.
  EXPECT_TRUE(fs::is_regular_file(run() / "data" / "captions.jsonl"));
  EXPECT_TRUE(fs::is_regular_file(run() / "model" / "model_index.json"));
  const io::CsvRows prompts = io::read_csv(run() / "prompts" / "prompts.csv");
  ASSERT_EQ(prompts.size(), 1u + 14u);  // 8 members + 6 held out
  const auto c = io::csv_columns(prompts[0], {"id", "prompt", "planted", "member"}, "prompts.csv");
  int planted = 0;
  for (size_t i = 1; i < prompts.size(); ++i) planted += prompts[i][c.at("planted")] == "1";
  EXPECT_EQ(planted, 1);  // the image planted 6 times
  // Every prompt screened and generated (no --screen-top).
  EXPECT_EQ(io::read_csv(run() / "screen" / "screen.csv").size(), 15u);
  // Per duplicate count of the planted captions: the one planted 6 times against the 13 others,
  // which with one count is the whole screen's ROC.
  const Json sc = io::read_json(run() / "screen" / "summary.json");
  ASSERT_EQ(sc.at("by_duplicates").size(), 1u) << sc.dump();
  EXPECT_EQ(sc["by_duplicates"][0]["duplicates"], 6);
  EXPECT_EQ(sc["by_duplicates"][0]["positives"], 1);
  EXPECT_EQ(sc["by_duplicates"][0]["negatives"], 13);
  EXPECT_EQ(sc["by_duplicates"][0]["wen"]["auc"], sc["detectors"]["wen"]["auc"]);
  const Json b = io::read_json(run() / "blackbox" / "summary.json");
  EXPECT_EQ(b.at("groups"), 14);
  EXPECT_EQ(b.at("extraction").at("prompts"), 14);
  EXPECT_EQ(b.at("extraction").at("memorized"), 1);  // the label column: planted
  for (const char* a : {"loss", "clid", "secmi", "pia"}) {
    const Json m = io::read_json(run() / "mia" / a / "summary.json");
    EXPECT_EQ(m.at("members"), 8 + 5) << a;  // member rows: 7 seen once, one seen 6 times
    EXPECT_EQ(m.at("nonmembers"), 6) << a;
  }
}

TEST_F(AuditTextE2E, TheReportHasThePromptTableTheScreenAndTheirNumbers) {
  const std::string page = test::read_bytes(run() / "report.html");
  const Json s = io::read_json(run() / "summary.json");
  EXPECT_EQ(s["sections"]["screen"], "ok");
  EXPECT_EQ(s["sections"]["prompts"], "ok");
  EXPECT_EQ(s["sections"]["blackbox"], "ok");
  EXPECT_EQ(s["sections"]["mia"], "ok");
  EXPECT_EQ(s["screen"]["prompts"], 14);
  EXPECT_TRUE(s["screen"]["detectors"]["wen"]["auc"].is_number()) << s["screen"].dump();
  EXPECT_EQ(s["text_to_image"]["rows"].size(), 14u);
  EXPECT_NE(page.find("<svg"), std::string::npos);  // the screen's ROC (and the MIA's)
  // The first caption of the table is the screen's top prompt, shown as text.
  const io::CsvRows screen = io::read_csv(run() / "screen" / "screen.csv");
  EXPECT_EQ(s["text_to_image"]["rows"][0]["prompt"], screen[1][3]);
  EXPECT_NE(page.find(screen[1][3]), std::string::npos);
  // Every number shown in a summary cell is summary.json's.
  const std::regex key("data-key=\"([^\"]*)\">([^<]*)<");
  int checked = 0;
  for (auto it = std::sregex_iterator(page.begin(), page.end(), key); it != std::sregex_iterator(); ++it) {
    const std::string k = (*it)[1], text = (*it)[2];
    if (text == "—") continue;
    const Json::json_pointer p(k);
    ASSERT_TRUE(s.contains(p)) << k;
    const double v = s.at(p).get<double>();
    if (text.back() == '%')
      EXPECT_NEAR(std::stod(text), 100 * v, 0.05 + 1e-9) << k;
    else if (text.find('.') != std::string::npos)
      EXPECT_NEAR(std::stod(text), v, 0.0005 + 1e-9) << k;
    else
      EXPECT_EQ(std::stoll(text), std::llround(v)) << k;
    ++checked;
  }
  EXPECT_GE(checked, 14 * 3);
}

TEST_F(AuditTextE2E, RerunSkipsEveryStage) {
  const auto r = test::run_diffmem("--threads 2 audit --run " + test::quoted(run()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 stage(s) ran"), std::string::npos) << r.output;
  EXPECT_TRUE(has_stage(r.output, "blackbox", "done already")) << r.output;
}

TEST_F(AuditTextE2E, AGivenPipelineWithItsOwnPromptsFileAndMarkupInAPrompt) {
  const fs::path p = tmp_->path() / "prompts.csv";
  test::write_bytes(p, "prompt,memorized\n\"<script>alert(1)</script> a coat\",1\na plain shirt,0\n"
                       "\"a boot; rm -rf /\",0\n");
  const fs::path run2 = tmp_->path() / "given";
  const auto r = test::run_diffmem("--threads 2 audit --run " + test::quoted(run2) + " --model " + test::quoted(run() / "model") +
                                   " --data " + test::quoted(run() / "data") + " --prompts " + test::quoted(p) +
                                   " --per-prompt 3 --sample-steps 3 --draws 1 --screen-top 2 --seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_stage(r.output, "train", "not run: using the given model")) << r.output;
  EXPECT_FALSE(fs::exists(run2 / "prompts"));  // the given file is used where it is
  const Json b = io::read_json(run2 / "blackbox" / "summary.json");
  EXPECT_EQ(b.at("screen").at("selected"), 2);
  EXPECT_EQ(b.at("groups"), 2);
  const std::string page = test::read_bytes(run2 / "report.html");
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt; a coat"), std::string::npos);
  EXPECT_NE(page.find("not generated (below the screen"), std::string::npos);
}

TEST_F(AuditTextE2E, ShadowPipelinesGiveLira) {
  const fs::path r3 = tmp_->path() / "lira";
  const auto r = test::run_diffmem("--threads 2 audit --run " + test::quoted(r3) + kTinyText + " --shadows 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_stage(r.output, "train", "done: target: .*, 2 shadow models")) << r.output;
  for (const char* a : {"loss", "clid", "secmi", "pia", "lira-online", "lira-offline"}) {
    const Json m = io::read_json(r3 / "mia" / a / "summary.json");
    EXPECT_EQ(m.at("members"), 13) << a;
    EXPECT_EQ(m.at("nonmembers"), 6) << a;
  }
  const Json online = io::read_json(r3 / "mia" / "lira-online" / "summary.json");
  EXPECT_EQ(online.at("shadows").size(), 2u);
  // Every row of the data set is scored.
  const io::CsvRows half = io::read_csv(r3 / "mia" / "lira-online" / "scores.csv");
  EXPECT_EQ(half.size(), 1u + 19u);
  const Json s = io::read_json(r3 / "summary.json");
  EXPECT_TRUE(s["mia"]["lira-online"]["auc"].is_number()) << s["mia"].dump();
  // The CLI: LiRA without shadows is a one-line error naming the flag.
  const auto e = test::run_diffmem("mia lira --target " + test::quoted(r3 / "model") + " --data " + test::quoted(r3 / "data") +
                                   " --out " + test::quoted(tmp_->path() / "x"));
  EXPECT_NE(e.exit_code, 0);
  EXPECT_NE(e.output.find("--shadows"), std::string::npos) << e.output;
}

TEST_F(AuditTextE2E, ShadowsForATextToImageModelFailInSeconds) {
  const auto r = test::run_diffmem("audit --run " + test::quoted(tmp_->path() / "s") + " --model " + test::quoted(run() / "model") +
                                   " --data " + test::quoted(run() / "data") + " --shadows 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--shadows"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp_->path() / "s" / "stages"));
}

}  // namespace
}  // namespace diffmem
