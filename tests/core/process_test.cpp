#include "diffmem/core/process.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "diffmem/core/error.h"
#include "test_support.h"

namespace diffmem::core {
namespace {
namespace fs = std::filesystem;
using Words = std::vector<std::string>;

TEST(Process, SplitsTheTemplateLikeAShellWithoutItsExpansions) {
  EXPECT_EQ(split_command_template("  gen  --p {prompt}\t-o {out} "), (Words{"gen", "--p", "{prompt}", "-o", "{out}"}));
  EXPECT_EQ(split_command_template("a 'b c' \"d \\\"e\\\" \\\\ \\n\" f\\ g ''"),
            (Words{"a", "b c", "d \"e\" \\ \\n", "f g", ""}));
  EXPECT_EQ(split_command_template("x $(rm -rf /) ; `id` | > *"),
            (Words{"x", "$(rm", "-rf", "/)", ";", "`id`", "|", ">", "*"}));
  EXPECT_EQ(split_command_template("pre'fix'\"{prompt}\"post"), (Words{"prefix{prompt}post"}));
  EXPECT_THROW(split_command_template("a 'open"), Error);
  EXPECT_THROW(split_command_template("a \"open"), Error);
  EXPECT_THROW(split_command_template("a \\"), Error);
  EXPECT_THROW(split_command_template("   "), Error);
}

TEST(Process, FillsPlaceholdersInOnePass) {
  const Words w = {"gen", "--prompt={prompt}", "{out}", "{{seed}}", "x{seed}y{seed}"};
  const Words got = fill_template(w, {{"prompt", "{out} and {seed}"}, {"seed", "7"}, {"out", "/o.png"}});
  EXPECT_EQ(got, (Words{"gen", "--prompt={out} and {seed}", "/o.png", "{seed}", "x7y7"}));
  EXPECT_THROW(fill_template({"{nope}"}, {{"out", "x"}}), Error);
  EXPECT_THROW(fill_template({"{out"}, {{"out", "x"}}), Error);
  EXPECT_TRUE(template_uses(w, "out"));
  EXPECT_FALSE(template_uses({"{{out}}"}, "out"));
}

TEST(Process, TimesOutAndReportsExitCodesAndSignals) {
  test::TempDir dir;
  const auto t0 = std::chrono::steady_clock::now();
  const ProcessOutcome slow = run_process({"sleep", "10"}, dir / "s.log", 0.3);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_FALSE(slow.ok());
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  EXPECT_EQ(run_process({"sh", "-c", "exit 3"}, "").exit_code, 3);
  EXPECT_EQ(run_process({"sh", "-c", "kill -TERM $$"}, "").signal, 15);
}

}  // namespace
}  // namespace diffmem::core
