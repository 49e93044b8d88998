// diffmem: what did a diffusion model memorize from its training data?
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include <c10/util/Exception.h>

#include "command.h"
#include "flags.h"
#include "ranks.h"
#include "diffmem/core/blas_kernels.h"
#include "diffmem/core/error.h"
#include "diffmem/core/log.h"
#include "diffmem/core/ranges.h"
#include "diffmem/core/runtime.h"

namespace diffmem::cli {

GlobalOptions& globals() {
  static GlobalOptions g;
  return g;
}

void start() {
  static bool done = false;
  if (done) return;
  done = true;
  auto& g = globals();
  const dist::Communicator& comm = ranks();
  if (comm.size() > 1) {
    dist::check_same(comm, "the command line", g.command_line);
    one_process_only(g.command, {"sample", "extract", "train", "mia", "audit", "screen", "extract-blackbox", "inpaint", "train-gan"});
    if (comm.rank() != 0) g.quiet = true;  // rank 0 reports progress for the job
  }
  // One GPU per rank: the rank's place among the ranks of its machine, modulo its GPUs.
  if (g.device == "cuda:local") g.device = "cuda:" + std::to_string(comm.local_rank() % std::max(1, core::cuda_device_count()));
  if (g.verbose) log::set_level(log::Level::kDebug);
  if (g.quiet) log::set_level(log::Level::kWarn);
  core::set_threads(g.threads);
  core::set_model_memory_limit_gib(g.max_memory_gib);
}

static std::multimap<int, Registrar>& registry() {
  static std::multimap<int, Registrar> r;
  return r;
}

int register_command(int order, Registrar r) {
  registry().emplace(order, std::move(r));
  return order;
}

static std::string fmt_duration(double s) {
  if (s < 0) return "?";
  char buf[32];
  int t = static_cast<int>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", t / 3600, (t / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", t / 60, t % 60);
  return buf;
}

ProgressFn terminal_progress() {
  if (globals().quiet) return {};
  bool tty = ::isatty(::fileno(stderr));
  // Off a terminal (a log file, CI) a line every 0.25 s would flood the log: per stage, print the
  // first event, then at most one line per 10 s, and the last line once. Stages can interleave
  // (models trained side by side), so each keeps its own clock.
  struct Plain {
    std::string last_line;
    std::chrono::steady_clock::time_point last_at{};
  };
  auto plain = std::make_shared<std::map<std::string, Plain>>();
  return [tty, plain](const ProgressEvent& e) {
    char line[512];
    double pct = e.total > 0 ? 100.0 * e.done / e.total : 0.0;
    std::snprintf(line, sizeof line, "%s: %lld/%lld %s (%.0f%%) %.1f %s/s eta %s%s%s",
                  e.stage.c_str(), static_cast<long long>(e.done),
                  static_cast<long long>(e.total), e.unit.c_str(), pct, e.rate, e.unit.c_str(),
                  fmt_duration(e.eta_s).c_str(), e.detail.empty() ? "" : "  ", e.detail.c_str());
    if (tty) {
      std::fprintf(stderr, "\r\033[K%s%s", line, e.finished ? "\n" : "");
    } else {
      const auto now = std::chrono::steady_clock::now();
      auto [it, new_stage] = plain->try_emplace(e.stage);
      Plain& st = it->second;
      const bool due = now - st.last_at >= std::chrono::seconds(10);
      if (!new_stage && !e.finished && !due) return;
      const bool repeat = !new_stage && st.last_line == line;  // finish() repeats the last update
      st.last_line = line;
      st.last_at = now;
      if (e.finished) plain->erase(it);  // a later stage of the same name starts afresh
      if (repeat) return;
      std::fprintf(stderr, "%s\n", line);
    }
    std::fflush(stderr);
  };
}

// An error of this rank alone: one line naming the rank, and, in a job of several ranks, the end
// of every rank (the others may be waiting for this one in a collective).
int fail_job(const std::string& message) {
  const int rank = dist::launcher_rank();
  if (rank < 0) {
    std::fprintf(stderr, "diffmem: error: %s\n", message.c_str());
    return 1;
  }
  std::fprintf(stderr, "diffmem: error: rank %d: %s\n", rank, message.c_str());
  std::fflush(stderr);
  try {
    const dist::Communicator& comm = ranks();
    if (comm.size() > 1) comm.abort(1);
  } catch (const std::exception&) {
  }
  return 1;
}

}  // namespace diffmem::cli

int main(int argc, char** argv) {
  using namespace diffmem;
  core::use_best_blas_kernels(argv);  // may exec this program again with OPENBLAS_CORETYPE set
  CLI::App app{
      "diffmem: measure what a diffusion model memorized from its training data\n"
      "(Carlini et al., Extracting Training Data from Diffusion Models, USENIX Security 2023)"};
  app.require_subcommand(1);
  // A bad flag reads like every other error: one line, "diffmem: error: ...".
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "diffmem: error: " + diffmem::one_line(e.what()) + " (see --help)\n";
  });
  app.set_version_flag("--version", "diffmem 0.1.0");
  auto& g = cli::globals();
  cli::add_shared(&app, cli::flags::kThreads, g.threads)->check(CLI::Range(0, 4096))->capture_default_str();
  cli::add_shared(&app, cli::flags::kDevice, g.device)->capture_default_str();
  app.add_option("--max-memory", g.max_memory_gib,
                 "GiB one model may need (parameters + one image's activations, estimated from "
                 "its config before it is built)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("-q,--quiet", g.quiet, "No progress output");
  app.add_flag("-v,--verbose", g.verbose, "Debug logging");
  for (auto& [order, reg] : cli::registry()) reg(app);
  for (int i = 1; i < argc; ++i) g.command_line += std::string(i > 1 ? " " : "") + argv[i];
  for (int i = 1; i < argc && g.command.empty(); ++i)
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
      if (sub->get_name() == argv[i]) g.command = argv[i];
  // In an MPI job every rank parses the same command line: rank 0 alone says what is wrong with it.
  const int rank = std::max(0, dist::launcher_rank());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (rank != 0 && e.get_exit_code() != 0) return e.get_exit_code();
    return app.exit(e);
  } catch (const dist::CollectiveError& e) {
    // Every rank holds this same error: one line, from rank 0.
    if (rank == 0) std::fprintf(stderr, "diffmem: error: %s\n", one_line(e.what()).c_str());
    return 1;
  } catch (const diffmem::Error& e) {
    return cli::fail_job(one_line(e.what()));
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    // An allocator's refusal says how much it wanted, not what to change.
    if (what.find("DefaultCPUAllocator") != std::string::npos || what.find("out of memory") != std::string::npos)
      what = "out of memory (" + what.substr(0, what.find('\n')) +
             "); a smaller --batch, a smaller model or a larger machine needs less";
    return cli::fail_job(one_line(what));
  } catch (const std::exception& e) {
    return cli::fail_job(one_line(e.what()));
  }
  return 0;
}
