#pragma once
// Starting programs without a shell. A command template such as
// `python gen.py --prompt {prompt} --seed {seed} -o {out}` is split into argv words FIRST (a small
// shell-like splitter for the template text only) and the placeholders are then filled inside each
// word, so a value always lands in exactly the words that named it, byte for byte, whatever quotes,
// `;`, `$(...)` or newlines it holds. Programs start with posix_spawnp, never through a shell.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace diffmem::core {

/// Splits a command template into words: blanks separate words; '...' is literal; "..." is
/// literal except \" \\ \$ \` and \<newline>; a backslash outside quotes escapes the next
/// character. Nothing else of the shell (no $-expansion, globbing, ;, |, redirection) exists:
/// such characters are ordinary text. Throws diffmem::Error naming `where` on an unterminated
/// quote, a trailing backslash or an empty template.
std::vector<std::string> split_command_template(const std::string& text,
                                                const std::string& where = "--generator-cmd");

/// Replaces every `{name}` in each word by values.at(name) in one left-to-right pass (inserted
/// text is never scanned again, so a prompt holding "{out}" stays as it is). `{{` and `}}` give
/// literal braces. An unknown `{name}` throws diffmem::Error naming `where`.
std::vector<std::string> fill_template(const std::vector<std::string>& words,
                                       const std::map<std::string, std::string>& values,
                                       const std::string& where = "--generator-cmd");

/// True when some word of the template uses `{name}`.
bool template_uses(const std::vector<std::string>& words, const std::string& name);

struct ProcessOutcome {
  int exit_code = -1;     ///< exit status, or -1 when killed by a signal or not started
  int signal = 0;         ///< the signal that ended it, 0 if none
  bool timed_out = false;
  std::string error;      ///< why it could not start (e.g. "No such file or directory")
  bool ok() const { return exit_code == 0 && error.empty(); }
  std::string describe() const;
};

/// Runs argv[0] (looked up in PATH) with argv, stdin from /dev/null, stdout and stderr appended
/// to `log` (or inherited when empty). timeout_s > 0 kills it (SIGKILL) after that many seconds.
ProcessOutcome run_process(const std::vector<std::string>& argv, const std::filesystem::path& log,
                           double timeout_s = 0);

}  // namespace diffmem::core
