#include "diffmem/core/atomic_file.h"

#include <gtest/gtest.h>

#include "diffmem/core/error.h"
#include "test_support.h"

using namespace diffmem;
namespace fs = std::filesystem;

TEST(AtomicFile, NothingVisibleBeforeCommit) {
  test::TempDir dir;
  fs::path p = dir / "sub/out.bin";
  {
    core::AtomicFile f(p);
    f.write("hello");
    EXPECT_FALSE(fs::exists(p));
    f.commit();
  }
  EXPECT_EQ(test::read_bytes(p), "hello");
  // No temporary file is left behind.
  int n = 0;
  for (auto& e : fs::directory_iterator(dir / "sub")) n += e.is_regular_file();
  EXPECT_EQ(n, 1);
}

TEST(AtomicFile, AbandonedWriteLeavesOldContentAndNoTemp) {
  test::TempDir dir;
  fs::path p = dir / "out.txt";
  core::write_file_atomic(p, "old");
  {
    core::AtomicFile f(p);
    f.write("new but never committed");
  }
  EXPECT_EQ(test::read_bytes(p), "old");
  int n = 0;
  for (auto& e : fs::directory_iterator(dir.path())) n += e.is_regular_file();
  EXPECT_EQ(n, 1);
}

TEST(AtomicFile, UnwritableLocationIsAnErrorNamingThePath) {
  test::TempDir dir;
  test::write_bytes(dir / "plainfile", "x");
  // The parent "directory" is a regular file: the writer must refuse with the path in the message.
  try {
    core::AtomicFile f(dir / "plainfile/out.npy");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("plainfile"), std::string::npos) << e.what();
  }
}

TEST(ReadFile, MissingFileNamesThePath) {
  try {
    core::read_file("/nonexistent/dir/x.npy");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.npy"), std::string::npos);
  }
}
