#pragma once
// Shared helpers for the test suite: scratch directories, running the CLI, numpy round-trips,
// capturing library errors.
#include <filesystem>
#include <functional>
#include <string>

namespace diffmem::test {

/// A fresh, empty directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Result of running a process.
struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

/// Runs a shell command line (tests only pass fixed, quoted strings), capturing its output.
RunResult run_shell(const std::string& command);

/// Runs the diffmem CLI with the given arguments (already shell-quoted where needed).
RunResult run_diffmem(const std::string& args);

/// The diffmem binary under test, shell-quoted (for command lines that set the environment).
std::string diffmem_command();

/// Quotes a string for /bin/sh.
std::string shell_quote(const std::string& s);

/// A path quoted for /bin/sh (shell_quote of its string).
inline std::string quoted(const std::filesystem::path& p) { return shell_quote(p.string()); }

/// Debian's dataset-fashion-mnist: the built-in data of the end-to-end tests.
inline const std::filesystem::path kFashionMnist = "/usr/share/datasets/fashion-mnist";

/// Path to a Python that can import numpy, or "" when none is available.
std::string numpy_python();

std::string source_dir();
void write_bytes(const std::filesystem::path& p, const std::string& bytes);
std::string read_bytes(const std::filesystem::path& p);

/// The message of the diffmem::Error that f throws; "" (and a test failure, via ADD_FAILURE) when
/// it throws none. Any other exception propagates (gtest then fails the test).
std::string error_of(const std::function<void()>& f);

}  // namespace diffmem::test
