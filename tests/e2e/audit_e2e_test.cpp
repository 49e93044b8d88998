// `diffmem audit` end to end on a tiny configuration (tiny U-Net, a few dozen images, 30 training
// steps): the run directory, the report's content, resuming, --from, escaping, and the page in a
// headless browser. One audit run is shared by the tests of the suite (they run in order).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <regex>

#include "diffmem/core/atomic_file.h"
#include "diffmem/io/json.h"
#include "test_support.h"

namespace diffmem {
namespace {
namespace fs = std::filesystem;
using io::Json;
using test::shell_quote;

// The run directory's name carries markup: it shows up in the page (paths, the black-box group's
// description), where it must be text.
const char* kRunName = "run <script>alert('x')";

const std::string kTiny =
    " --n 12 --holdout 8 --duplicate-counts 1,2,4 --preset tiny --steps 30 --batch 8 --samples 24"
    " --sample-steps 8 --draws 2 --inpaint-targets 4 --candidates 2 --inpaint-steps 4 --min-clique 2"
    " --seed 3";

fs::file_time_type mtime(const fs::path& p) { return fs::last_write_time(p); }

long matches(const std::string& s, const std::string& pattern) {
  const std::regex re(pattern);
  return static_cast<long>(std::distance(std::sregex_iterator(s.begin(), s.end(), re), std::sregex_iterator()));
}

class AuditE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(test::kFashionMnist / "train-images-idx3-ubyte.gz")) return;
    tmp_ = new test::TempDir();
    run_ = tmp_->path() / kRunName;
    // A data-set feature net for the quality stage, trained on 300 test-split images (seconds).
    const fs::path fm = tmp_->path() / "fm", ref = tmp_->path() / "ref";
    net_ = tmp_->path() / "net";
    for (const std::string& args :
         {"data import --from fashion-mnist --split test --out " + test::quoted(fm),
          "data subset --data " + test::quoted(fm) + " --n 300 --seed 1 --out " + test::quoted(ref),
          "train-feature-net --data " + test::quoted(ref) + " --epochs 1 --width 4 --out " + test::quoted(net_)}) {
      const auto r = test::run_diffmem(args);
      if (r.exit_code != 0) {
        first_ = new test::RunResult(r);
        return;
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    first_ = new test::RunResult(
        test::run_diffmem("--threads 2 audit --run " + test::quoted(run_) + kTiny + " --feature-net " + test::quoted(net_)));
    first_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
  static std::string html() { return test::read_bytes(run_ / "report.html"); }
  static Json summary() { return io::read_json(run_ / "summary.json"); }

  static test::TempDir* tmp_;
  static fs::path run_, net_;
  static test::RunResult* first_;
  static double first_seconds_;
};
test::TempDir* AuditE2E::tmp_ = nullptr;
fs::path AuditE2E::run_;
fs::path AuditE2E::net_;
test::RunResult* AuditE2E::first_ = nullptr;
double AuditE2E::first_seconds_ = 0;

TEST_F(AuditE2E, RunDirectoryHoldsEveryStage) {
  std::printf("first audit run: %.1f s\n", first_seconds_);
  for (const char* stage : {"data", "train", "sample", "extract", "blackbox", "mia", "inpaint", "quality", "report"}) {
    const Json m = io::read_json(run_ / "stages" / (std::string(stage) + ".json"));
    EXPECT_EQ(m["state"], "done") << stage << ": " << m.dump();
    EXPECT_NE(first_->output.find(std::string("] ") + stage), std::string::npos) << stage;
  }
  for (const char* f : {"audit.json", "run.json", "data/manifest.json", "data/members.npy",
                        "train-data/images.npy", "model/config.json",
                        "model/diffusion_pytorch_model.safetensors", "model/members.npy",
                        "samples/images-00000.npy", "extract/matches.csv", "extract/summary.json",
                        "blackbox/summary.json", "blackbox/cliques.csv", "mia/loss/summary.json",
                        "mia/loss/roc.csv", "inpaint/summary.json", "inpaint/strips.png", "quality/summary.json",
                        "quality/reference-stats/mu.npy", "quality/generated-stats/sigma.npy", "report.html",
                        "summary.json"})
    EXPECT_TRUE(fs::is_regular_file(run_ / f)) << f;
  // The built-in data: 12 members (4 of them planted 1, 2, 4 times) and 8 held out.
  const Json data = io::read_json(run_ / "data" / "manifest.json");
  EXPECT_EQ(data["count"], 12 + 1 + 3 + 8);
  EXPECT_EQ(data["members"]["count"], 12);
  EXPECT_EQ(data["duplicates"].size(), 3u);
  const Json train = io::read_json(run_ / "train-data" / "manifest.json");
  EXPECT_EQ(train["count"], 12 + 1 + 3);
  // audit.json holds the options the flags gave, and reads back as a config.
  const Json opts = io::read_json(run_ / "audit.json");
  EXPECT_EQ(opts["train"]["steps"], 30);
  EXPECT_EQ(opts["train"]["preset"], "tiny");
  EXPECT_EQ(opts["sample"]["n"], 24);
  EXPECT_EQ(opts["builtin"]["duplicate_counts"], Json::array({1, 2, 4}));
  EXPECT_EQ(opts["mia"]["loss"]["seed"], 3);
  EXPECT_NE(first_->output.find("report: "), std::string::npos);
}

TEST_F(AuditE2E, ReportShowsEverySectionWithSummaryNumbers) {
  const std::string page = html();
  const Json s = summary();
  for (const char* id : {"overview", "gallery", "duplicates", "distances", "mia", "inpaint", "blackbox", "quality"}) {
    EXPECT_NE(page.find(std::string("<section id=\"") + id + "\">"), std::string::npos) << id;
    if (std::string(id) != "overview") {
      EXPECT_EQ(s["sections"][id], "ok") << id;
    }
  }
  EXPECT_EQ(page.find("Not run"), std::string::npos);
  // Images are embedded: the gallery's pairs (2 per training image hit, up to 24 pairs), strips.
  long n_img = 0;  // std::regex recurses per character: no regex over the long base64 strings
  for (size_t p = page.find("<img src=\"data:image/png;base64,iVBORw0KGgo"); p != std::string::npos;
       p = page.find("<img src=\"data:image/png;base64,iVBORw0KGgo", p + 1))
    ++n_img;
  const size_t pairs = s["extraction"]["gallery"].size();
  EXPECT_GE(pairs, 1u);
  EXPECT_GE(static_cast<size_t>(n_img), 2 * pairs + 1);
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
  EXPECT_GE(matches(page, "<svg"), 3);

  // The summary's numbers are the stage outputs' numbers...
  const Json ex = io::read_json(run_ / "extract" / "summary.json");
  EXPECT_EQ(s["extraction"]["unique_extracted"], ex["unique_extracted"]);
  EXPECT_EQ(s["extraction"]["generations"], 24);
  EXPECT_EQ(s["generations"]["count"], 24);
  const Json loss = io::read_json(run_ / "mia" / "loss" / "summary.json");
  EXPECT_EQ(s["mia"]["loss"]["auc"], loss["auc"]);
  EXPECT_EQ(s["mia"]["loss"]["tpr_at_fpr_0.01"], loss["tpr_at_fpr_0.01"]);
  const Json inp = io::read_json(run_ / "inpaint" / "summary.json");
  EXPECT_EQ(s["inpaint"]["auc"], inp["auc"]);
  // The quality stage measured the 24 generations against the 16 training rows, in the feature
  // net's space: FD, never called FID.
  const Json qual = io::read_json(run_ / "quality" / "summary.json");
  EXPECT_EQ(s["quality"]["fd"], qual["fd"]);
  EXPECT_EQ(qual["metric"], "FD");
  EXPECT_EQ(qual["generated"], 24);
  EXPECT_EQ(qual["reference"], 12 + 1 + 3);
  EXPECT_GT(qual["fd"].get<double>(), 0.0);
  EXPECT_NE(page.find("FD in dataset-net"), std::string::npos);
  EXPECT_EQ(page.find(">FID<"), std::string::npos);
  // ...and every number in a summary cell of the page is summary.json's.
  const std::regex key("data-key=\"([^\"]*)\">([^<]*)<");
  int checked = 0;
  for (auto it = std::sregex_iterator(page.begin(), page.end(), key); it != std::sregex_iterator(); ++it) {
    const std::string k = (*it)[1], text = (*it)[2];
    const Json::json_pointer p(k);
    if (text == "—") continue;
    ASSERT_TRUE(s.contains(p)) << k;
    const double v = s.at(p).get<double>();
    char sig4[32];
    std::snprintf(sig4, sizeof sig4, "%.4g", v);
    if (text == sig4) {
      // the quality numbers: four significant digits
    } else if (text.back() == '%')
      EXPECT_NEAR(std::stod(text), 100 * v, 0.05 + 1e-9) << k;
    else if (text.find('.') != std::string::npos)
      EXPECT_NEAR(std::stod(text), v, 0.0005 + 1e-9) << k;
    else
      EXPECT_EQ(std::stoll(text), std::llround(v)) << k;
    ++checked;
  }
  EXPECT_GE(checked, 40);
  for (const char* k : {"/extraction/unique_extracted", "/mia/loss/tpr_at_fpr_0.01", "/mia/loss/auc",
                        "/generations/count", "/blackbox/flagged_cliques"})
    EXPECT_NE(page.find(std::string("data-key=\"") + k + "\""), std::string::npos) << k;
}

TEST_F(AuditE2E, MarkupInNamesShowsAsText) {
  const std::string page = html();
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_NE(page.find("run &lt;script&gt;alert(&#39;x&#39;)"), std::string::npos);
  const Json s = summary();
  EXPECT_NE(s["model"]["path"].get<std::string>().find("<script>"), std::string::npos);
}

TEST_F(AuditE2E, RerunSkipsEveryStageAndTouchesNothing) {
  const auto report_t = mtime(run_ / "report.html");
  const auto weights_t = mtime(run_ / "model" / "diffusion_pytorch_model.safetensors");
  const auto matches_t = mtime(run_ / "extract" / "matches.csv");
  const std::string before = html();
  const auto t0 = std::chrono::steady_clock::now();
  // No flags: the run's audit.json supplies the options.
  const auto r = test::run_diffmem("audit --run " + test::quoted(run_));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(matches(r.output, "done already"), 9) << r.output;
  EXPECT_NE(r.output.find("0 stage(s) ran"), std::string::npos) << r.output;
  EXPECT_LT(secs, 15.0);
  EXPECT_EQ(mtime(run_ / "report.html"), report_t);
  EXPECT_EQ(mtime(run_ / "model" / "diffusion_pytorch_model.safetensors"), weights_t);
  EXPECT_EQ(mtime(run_ / "extract" / "matches.csv"), matches_t);
  EXPECT_EQ(html(), before);
}

TEST_F(AuditE2E, FromStageRedoesItAndWhatFollows) {
  const auto samples_t = mtime(run_ / "samples" / "images-00000.npy");
  const auto matches_t = mtime(run_ / "extract" / "matches.csv");
  const auto report_t = mtime(run_ / "report.html");
  const std::string loss_before = test::read_bytes(run_ / "mia" / "loss" / "scores.csv");
  const auto r = test::run_diffmem("--threads 2 audit --run " + test::quoted(run_) + " --from mia");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"data", "train", "sample", "extract", "blackbox"})
    EXPECT_TRUE(std::regex_search(r.output, std::regex(std::string("\\] ") + s + " +done already")))
        << s << "\n" << r.output;
  for (const char* s : {"mia", "inpaint", "quality", "report"})
    EXPECT_TRUE(std::regex_search(r.output, std::regex(std::string("\\] ") + s + " +done: ")))
        << s << "\n" << r.output;
  EXPECT_EQ(mtime(run_ / "samples" / "images-00000.npy"), samples_t);
  EXPECT_EQ(mtime(run_ / "extract" / "matches.csv"), matches_t);
  EXPECT_NE(mtime(run_ / "report.html"), report_t);
  // Redone from scratch with the same seed: the same scores.
  EXPECT_EQ(test::read_bytes(run_ / "mia" / "loss" / "scores.csv"), loss_before);
}

// A run killed inside a stage leaves its marker at "running" and no summary: the rerun skips the
// stages before it, resumes it from what it had finished (the cached per-model errors) and redoes
// the stages after it.
TEST_F(AuditE2E, InterruptedStageResumes) {
  const fs::path marker = run_ / "stages" / "mia.json";
  Json m = io::read_json(marker);
  m["state"] = "running";
  m.erase("detail");
  io::write_json(marker, m);
  fs::remove(run_ / "mia" / "loss" / "summary.json");
  fs::remove(run_ / "report.html");
  std::vector<std::pair<fs::path, fs::file_time_type>> cache;
  for (const auto& e : fs::directory_iterator(run_ / "mia" / "cache")) cache.emplace_back(e.path(), mtime(e.path()));
  ASSERT_FALSE(cache.empty());
  const auto samples_t = mtime(run_ / "samples" / "images-00000.npy");

  const auto r = test::run_diffmem("--threads 2 audit --run " + test::quoted(run_));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(matches(r.output, "done already"), 5) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\\] mia +done: loss AUC"))) << r.output;
  for (const auto& [p, t] : cache) EXPECT_EQ(mtime(p), t) << p;  // reused, not recomputed
  EXPECT_EQ(mtime(run_ / "samples" / "images-00000.npy"), samples_t);
  EXPECT_EQ(io::read_json(marker)["state"], "done");
  EXPECT_TRUE(fs::is_regular_file(run_ / "mia" / "loss" / "summary.json"));
  EXPECT_TRUE(fs::is_regular_file(run_ / "report.html"));
}

TEST_F(AuditE2E, ReportRendersInHeadlessChromium) {
  const fs::path shot = tmp_->path() / "report.png";
  const auto r = test::run_shell("bash " + test::quoted(fs::path(test::source_dir()) / "tests" / "e2e" / "browser_test.sh") +
                                 " " + test::quoted(run_ / "report.html") + " " + test::quoted(shot));
  if (r.exit_code == 77) GTEST_SKIP() << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::is_regular_file(shot));
  if (const char* keep = std::getenv("DIFFMEM_KEEP_SCREENSHOT")) fs::copy_file(shot, keep, fs::copy_options::overwrite_existing);
}

TEST(AuditCli, BadOptionsNameTheirSource) {
  test::TempDir tmp;
  core::write_file_atomic(tmp / "audit.json", R"({"train": {"stpes": 10}})");
  auto r = test::run_diffmem("audit --run " + test::quoted(tmp / "run") + " --config " + test::quoted(tmp / "audit.json"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("train.stpes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("audit.json"), std::string::npos) << r.output;
  r = test::run_diffmem("audit --run " + test::quoted(tmp / "run") + " --from nowhere");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--from"), std::string::npos) << r.output;
  r = test::run_diffmem("audit --run " + test::quoted(tmp / "run") + " --data " + test::quoted(tmp / "missing"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--data"), std::string::npos) << r.output;
  // The options print as the audit.json they make, flags applied over the file.
  core::write_file_atomic(tmp / "ok.json", R"({"train": {"steps": 10}, "shadows": 2})");
  r = test::run_diffmem("audit --run " + test::quoted(tmp / "run") + " --config " + test::quoted(tmp / "ok.json") +
                        " --steps 20 --print-config");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json j = Json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["train"]["steps"], 20);
  EXPECT_EQ(j["shadows"], 2);
  EXPECT_EQ(j["sample"]["sampler"], "ddim");
  EXPECT_FALSE(fs::exists(tmp / "run" / "audit.json"));
}

}  // namespace
}  // namespace diffmem
