#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "diffmem/attack/generator_runner.h"
#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::attack {
namespace {
namespace fs = std::filesystem;

const char* kPython = "/usr/bin/python3";

std::string fake_generator() { return test::source_dir() + "/tests/attack/fake_generator.py"; }

// The template for the fake generator; paths single-quoted as a user would.
std::string fake_template(const std::string& extra) {
  return std::string(kPython) + " -S " + test::shell_quote(fake_generator()) +
         " --prompt {prompt} --seed {seed} --out {out} " + extra;
}

TEST(GeneratorRunner, RefusesATemplateWithoutOutOrWithUnknownNames) {
  GeneratorOptions o;
  o.command = "gen {prompt}";  // no {out}
  EXPECT_THROW(run_generator({}, o), Error);
  o.command = "gen {out} {bogus}";
  EXPECT_THROW(run_generator({}, o), Error);
}

TEST(GeneratorRunner, HostilePromptArrivesUnchangedAndRunsNothing) {
  if (!fs::exists(kPython)) GTEST_SKIP() << kPython << " is needed for the fake generator";
  test::TempDir dir;
  const fs::path pwned = fs::temp_directory_path() / ("pwned-" + std::to_string(::getpid()));
  fs::remove(pwned);
  const std::string hostile = "it's a \"test\"; touch " + pwned.string() + "; $(touch " + pwned.string() +
                              ") `touch " + pwned.string() + "` && echo hi > " + pwned.string() +
                              "\nsecond line\twith tab {out} {seed} {{x}} \\ $HOME * ~";
  fs::create_directories(dir / "argv");
  GeneratorOptions o;
  o.command = fake_template("--argv-dir " + test::shell_quote((dir / "argv").string()));
  o.jobs = 2;
  const std::vector<GeneratorTask> tasks = {{hostile, 5, dir / "out" / "000005.png"},
                                            {hostile, 6, dir / "out" / "000006.png"}};
  const GeneratorRunResult r = run_generator(tasks, o);
  EXPECT_EQ(r.generated, 2) << (r.failures.empty() ? "" : r.failures[0]);
  EXPECT_EQ(r.failed, 0);
  for (uint64_t seed : {5, 6}) {
    const auto argv = nlohmann::json::parse(test::read_bytes(dir / "argv" / (std::to_string(seed) + ".json")));
    // argv: [script, --prompt, PROMPT, --seed, SEED, --out, TMP, --argv-dir, DIR]
    ASSERT_EQ(argv.size(), 9u) << argv.dump();
    EXPECT_EQ(argv[2].get<std::string>(), hostile);
    EXPECT_EQ(argv[4].get<std::string>(), std::to_string(seed));
    EXPECT_NE(argv[6].get<std::string>(), (dir / "out" / (std::string("00000") + std::to_string(seed) + ".png")).string())
        << "{out} must be a temporary name, renamed on success";
  }
  EXPECT_FALSE(fs::exists(pwned)) << "the prompt ran a command";
  EXPECT_TRUE(fs::exists(dir / "out" / "000005.png"));
  EXPECT_TRUE(fs::exists(dir / "out" / "000006.png"));
}

TEST(GeneratorRunner, RetriesAFailedRunAndResumes) {
  if (!fs::exists(kPython)) GTEST_SKIP() << kPython << " is needed for the fake generator";
  test::TempDir dir;
  fs::create_directories(dir / "marks");
  GeneratorOptions o;
  o.command = fake_template("--fail-once " + test::shell_quote((dir / "marks").string()));
  o.jobs = 3;
  std::vector<GeneratorTask> tasks;
  for (uint64_t s = 0; s < 4; ++s) tasks.push_back({"a memorized prompt", s, dir / "g" / (std::to_string(s) + ".png")});

  o.retries = 0;  // every first attempt fails: nothing is written, the logs say why
  GeneratorRunResult r = run_generator(tasks, o);
  EXPECT_EQ(r.failed, 4);
  EXPECT_EQ(r.generated, 0);
  ASSERT_FALSE(r.failures.empty());
  EXPECT_NE(r.failures[0].find("exit status 2"), std::string::npos) << r.failures[0];
  EXPECT_NE(test::read_bytes(dir / "g" / "0.png.log").find("failing once on purpose"), std::string::npos);
  for (const auto& e : fs::directory_iterator(dir / "g"))
    EXPECT_EQ(e.path().extension(), ".log") << e.path() << " left behind by a failed run";

  fs::remove_all(dir / "marks");
  fs::create_directories(dir / "marks");
  o.retries = 1;  // fails once, then succeeds
  r = run_generator(tasks, o);
  EXPECT_EQ(r.generated, 4);
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(r.retried, 4);
  EXPECT_FALSE(fs::exists(dir / "g" / "0.png.log"));
  const auto stamp = fs::last_write_time(dir / "g" / "2.png");

  // Resume: a second run finds every output and starts nothing (a fresh marker folder would make
  // any new run fail once, which retries=0 would turn into a failure).
  fs::remove_all(dir / "marks");
  fs::create_directories(dir / "marks");
  o.retries = 0;
  r = run_generator(tasks, o);
  EXPECT_EQ(r.skipped, 4);
  EXPECT_EQ(r.generated, 0);
  EXPECT_EQ(r.failed, 0);
  EXPECT_TRUE(fs::is_empty(dir / "marks")) << "the generator ran again";
  EXPECT_EQ(fs::last_write_time(dir / "g" / "2.png"), stamp);
}

TEST(GeneratorRunner, ReportsMissingProgramsTimeoutsAndEmptyOutputs) {
  test::TempDir dir;
  GeneratorOptions o;
  o.command = "/nonexistent/generator {out}";
  o.retries = 1;
  GeneratorRunResult r = run_generator({{"p", 0, dir / "a.png"}}, o);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.retried, 1);
  EXPECT_NE(r.failures.at(0).find("could not start"), std::string::npos) << r.failures[0];

  o.command = "true {out}";  // exits 0 but writes nothing
  o.retries = 0;
  r = run_generator({{"p", 0, dir / "b.png"}}, o);
  EXPECT_EQ(r.failed, 1);
  EXPECT_NE(r.failures.at(0).find("without writing"), std::string::npos) << r.failures[0];
  EXPECT_FALSE(fs::exists(dir / "b.png"));

}

}  // namespace
}  // namespace diffmem::attack
