#pragma once
// Subcommands register themselves here, one file each, so adding a command never edits main.cpp.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "diffmem/core/progress.h"

namespace diffmem::cli {

/// Options every command shares, parsed by main before the subcommand runs.
struct GlobalOptions {
  int threads = 0;        // 0 = all cores
  std::string device = "auto";
  bool quiet = false;
  bool verbose = false;
  double max_memory_gib = 64;  // the largest model a config may ask for (core/ranges.h)
  std::string command_line;    // argv joined: every rank of an MPI job must run the same one
  std::string command;         // the subcommand's name
};

GlobalOptions& globals();

/// Applies the global options (threads, log level, memory limit); in an MPI job checks that every
/// rank runs the same command line, silences the progress of ranks other than 0, and resolves
/// --device cuda:local to this rank's GPU on its machine. Every command's callback calls it first.
void start();

/// Progress callback that draws a refreshing line on a terminal and plain lines otherwise.
ProgressFn terminal_progress();

using Registrar = std::function<void(CLI::App& app)>;

/// Adds a subcommand factory; `order` sorts --help output (pipeline order).
int register_command(int order, Registrar r);

}  // namespace diffmem::cli

#define DIFFMEM_CONCAT2(a, b) a##b
#define DIFFMEM_CONCAT(a, b) DIFFMEM_CONCAT2(a, b)
/// DIFFMEM_COMMAND(order) { ... app.add_subcommand(...) ... }
#define DIFFMEM_COMMAND(order)                                                     \
  static void DIFFMEM_CONCAT(register_cmd_, __LINE__)(CLI::App & app);             \
  static const int DIFFMEM_CONCAT(registered_cmd_, __LINE__) =                     \
      ::diffmem::cli::register_command(order, &DIFFMEM_CONCAT(register_cmd_, __LINE__)); \
  static void DIFFMEM_CONCAT(register_cmd_, __LINE__)(CLI::App & app)
