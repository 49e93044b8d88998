#include "diffmem/core/run_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diffmem/core/error.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

TEST(RunLock, ASecondRunIntoTheFolderIsRefusedNamingTheHolder) {
  test::TempDir dir;
  const fs::path out = dir / "run";
  {
    core::RunLock first(out, "--out");
    // flock is per open file: a second lock, even from this process, is refused.
    const std::string e = test::error_of([&] { core::RunLock second(out, "--out"); });
    EXPECT_NE(e.find("--out " + out.string()), std::string::npos) << e;
    EXPECT_NE(e.find("in use by pid " + std::to_string(::getpid())), std::string::npos) << e;
    test::write_bytes(out / "result.txt", "kept");
  }
  // Released with its holder; what the run wrote stays.
  core::RunLock again(out, "--out");
  EXPECT_EQ(test::read_bytes(out / "result.txt"), "kept");
}

TEST(RunLock, AFolderItCreatedAndNothingWroteIsRemovedAgain) {
  test::TempDir dir;
  { core::RunLock lock(dir / "refused", "--out"); }
  EXPECT_FALSE(fs::exists(dir / "refused"));
  fs::create_directories(dir / "existing");
  { core::RunLock lock(dir / "existing", "--out"); }
  EXPECT_TRUE(fs::exists(dir / "existing"));  // it was there before
}

TEST(RunLock, RemovesTemporariesOfDeadProcessesOnly) {
  test::TempDir dir;
  const fs::path out = dir / "run";
  fs::create_directories(out / "sub" / ".staging.999999998");
  // 999999999 is above any pid_max, so never a live process; pid 1 always is.
  test::write_bytes(out / "images-00001.npy.tmp.999999999", "stale");
  test::write_bytes(out / "sub" / "manifest.json.tmp.999999999", "stale");
  test::write_bytes(out / "sub" / ".staging.999999998" / "images.npy", "stale");
  test::write_bytes(out / "live.npy.tmp.1", "another process's");
  const std::string own = "own.npy.tmp." + std::to_string(::getpid());
  test::write_bytes(out / own, "this process's");
  test::write_bytes(out / "notes.tmp.txt", "not a temporary");
  { core::RunLock lock(out, "--out"); }
  EXPECT_FALSE(fs::exists(out / "images-00001.npy.tmp.999999999"));
  EXPECT_FALSE(fs::exists(out / "sub" / "manifest.json.tmp.999999999"));
  EXPECT_FALSE(fs::exists(out / "sub" / ".staging.999999998"));
  EXPECT_TRUE(fs::exists(out / "live.npy.tmp.1"));
  EXPECT_TRUE(fs::exists(out / own));
  EXPECT_TRUE(fs::exists(out / "notes.tmp.txt"));
  EXPECT_TRUE(core::process_alive(::getpid()));
  EXPECT_FALSE(core::process_alive(999999999));
}

// A killed process not yet reaped (a zombie: what a SIGKILLed rank stays until its parent or init
// reaps it) left its temporary for good: the next run sweeps it.
TEST(RunLock, TemporariesOfAnUnreapedDeadProcessAreSwept) {
  test::TempDir tmp;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);  // exited, not reaped
  EXPECT_FALSE(core::process_alive(child));
  const fs::path out = tmp / "out";
  fs::create_directories(out);
  test::write_bytes(out / ("flagged.png.tmp." + std::to_string(child)), "half a file");
  { core::RunLock lock(out, "--out"); }
  EXPECT_FALSE(fs::exists(out / ("flagged.png.tmp." + std::to_string(child))));
  ::waitpid(child, nullptr, 0);
}
