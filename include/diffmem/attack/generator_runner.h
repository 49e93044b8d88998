#pragma once
// Runs an external image generator once per (prompt, seed), the way the black-box attack drives a
// model diffmem cannot load itself (Stable Diffusion behind a script, an API client, ...).
//
// The command is a template such as  `python gen.py --prompt {prompt} --seed {seed} -o {out}`.
// It is split into argv words FIRST (a small shell-like splitter for the template text only) and
// the placeholders are then filled inside each word, so a prompt always lands in exactly the words
// that named it, byte for byte, whatever quotes, `;`, `$(...)` or newlines it holds. The program is
// started with posix_spawnp, never through a shell.
//
// Each run writes to a temporary name beside its final path ({out} is that temporary name) and is
// renamed onto the final path only when the generator exits 0 having written a non-empty file, so
// an existing output is always complete and a rerun skips it (resume).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"
#include "diffmem/io/json.h"

namespace diffmem::attack {

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

struct GeneratorOptions {
  std::string command;   ///< the template; must use {out}
  int64_t jobs = 1;      ///< generator processes running at once
  int64_t retries = 2;   ///< extra attempts after a failed run
  double timeout_s = 0;  ///< per run; 0 = no limit
};

void to_json(io::Json& j, const GeneratorOptions& o);

/// One image to make: `prompt` with `seed`, written to `out` (its folder is created).
struct GeneratorTask {
  std::string prompt;
  uint64_t seed = 0;
  std::filesystem::path out;
};

struct GeneratorRunResult {
  int64_t tasks = 0;
  int64_t skipped = 0;    ///< outputs that already existed (resume)
  int64_t generated = 0;  ///< runs that produced their output
  int64_t failed = 0;     ///< tasks that failed every attempt
  int64_t retried = 0;    ///< extra attempts made
  std::vector<std::string> failures;  ///< "OUT: what happened" for the first few failed tasks
  double seconds = 0;
};

/// Runs the generator for every task whose output does not exist yet, `jobs` at a time. A failed
/// attempt's output (stdout+stderr) is kept in OUT.log beside the output; a success removes it.
/// Progress: stage "generate", unit "images". Never throws for a failed run (see `failed`); throws
/// diffmem::Error for a bad template.
GeneratorRunResult run_generator(const std::vector<GeneratorTask>& tasks,
                                 const GeneratorOptions& options,
                                 const ProgressFn& progress = nullptr);

}  // namespace diffmem::attack
