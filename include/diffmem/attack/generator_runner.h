#pragma once
// Runs an external image generator once per (prompt, seed), the way the black-box attack drives a
// model diffmem cannot load itself (Stable Diffusion behind a script, an API client, ...).
//
// The command is a template such as  `python gen.py --prompt {prompt} --seed {seed} -o {out}`.
// It is split and filled by core/process.h, so a prompt lands in exactly the words that named it
// and the program is started without a shell.
//
// Each run writes to a temporary name beside its final path ({out} is that temporary name) and is
// renamed onto the final path only when the generator exits 0 having written a non-empty file, so
// an existing output is always complete and a rerun skips it (resume).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "diffmem/core/process.h"
#include "diffmem/core/progress.h"
#include "diffmem/dist/communicator.h"
#include "diffmem/io/fields.h"

namespace diffmem::attack {

struct GeneratorOptions {
  std::string command;   ///< the template; must use {out}
  int64_t jobs = 1;      ///< generator processes running at once
  int64_t retries = 2;   ///< extra attempts after a failed run
  double timeout_s = 0;  ///< per run; 0 = no limit
};

DIFFMEM_FIELDS(GeneratorOptions, command, jobs, retries, timeout_s)

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
/// The same over an MPI job's ranks: task k on rank k % size (each rank `jobs` at a time); every
/// rank gets the totals (seconds: the slowest rank's; failures: the first few, by rank).
GeneratorRunResult run_generator(const std::vector<GeneratorTask>& tasks, const GeneratorOptions& options,
                                 const ProgressFn& progress, const dist::Communicator& comm);

}  // namespace diffmem::attack
