#include "diffmem/attack/generator_runner.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "diffmem/core/error.h"
#include "diffmem/core/log.h"

namespace diffmem::attack {
namespace fs = std::filesystem;

namespace {

std::string quote_argv(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) {
    if (!s.empty()) s += ' ';
    std::string q = "'";
    for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    s += q + "'";
  }
  return s;
}

std::string tail_of(const fs::path& p, size_t n) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > n) s = "..." + s.substr(s.size() - n);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

}  // namespace

GeneratorRunResult run_generator(const std::vector<GeneratorTask>& tasks,
                                 const GeneratorOptions& options, const ProgressFn& progress) {
  const std::vector<std::string> words = core::split_command_template(options.command);
  check(core::template_uses(words, "out"), "--generator-cmd",
        "a template that uses {out} (the file the generator must write)", "'" + options.command + "'");
  check(options.jobs >= 1, "--jobs", "at least 1", std::to_string(options.jobs));
  check(options.retries >= 0, "--retries", "0 or more", std::to_string(options.retries));
  core::fill_template(words, {{"prompt", ""}, {"seed", ""}, {"out", ""}});  // unknown {names} throw here

  const auto t0 = std::chrono::steady_clock::now();
  GeneratorRunResult res;
  res.tasks = static_cast<int64_t>(tasks.size());
  std::vector<const GeneratorTask*> pending;
  for (const GeneratorTask& t : tasks) {
    if (fs::exists(t.out)) ++res.skipped;
    else pending.push_back(&t);
  }

  std::mutex mu;
  ProgressMeter meter(progress, "generate", res.tasks, "images", res.skipped);
  std::atomic<size_t> next{0};
  int64_t done = res.skipped;
  auto worker = [&] {
    for (size_t k = next++; k < pending.size(); k = next++) {
      const GeneratorTask& t = *pending[k];
      std::error_code ec;
      fs::create_directories(t.out.parent_path(), ec);
      const fs::path tmp = t.out.parent_path() / ("." + t.out.stem().string() + ".tmp-" +
                                                  std::to_string(::getpid()) + t.out.extension().string());
      const fs::path log = t.out.string() + ".log";
      fs::remove(log, ec);
      const std::vector<std::string> argv = core::fill_template(
          words, {{"prompt", t.prompt}, {"seed", std::to_string(t.seed)}, {"out", tmp.string()}});
      bool ok = false;
      std::string why;
      int64_t attempts = 0;
      for (int64_t a = 0; a <= options.retries && !ok; ++a) {
        ++attempts;
        fs::remove(tmp, ec);
        {
          std::ofstream(log, std::ios::app) << "# attempt " << a + 1 << ": " << quote_argv(argv) << "\n";
        }
        const core::ProcessOutcome o = core::run_process(argv, log, options.timeout_s);
        std::error_code sec;
        const auto size = fs::file_size(tmp, sec);
        if (o.ok() && !sec && size > 0) {
          fs::rename(tmp, t.out, sec);
          if (sec) why = "cannot rename " + tmp.string() + " to " + t.out.string() + ": " + sec.message();
          else ok = true;
        } else {
          why = o.ok() ? "exited 0 without writing {out}" : o.describe();
        }
      }
      fs::remove(tmp, ec);
      if (ok) fs::remove(log, ec);
      std::lock_guard<std::mutex> lock(mu);
      res.retried += attempts - 1;
      if (ok) {
        ++res.generated;
      } else {
        ++res.failed;
        const std::string msg = t.out.string() + ": " + why + "; output: " + tail_of(log, 300);
        log::warn("generator failed " + std::to_string(attempts) + " time(s) for " + msg);
        if (res.failures.size() < 10) res.failures.push_back(msg);
      }
      meter.update(++done, res.failed ? std::to_string(res.failed) + " failed" : "");
    }
  };
  const size_t n_threads = std::min<size_t>(static_cast<size_t>(options.jobs), std::max<size_t>(pending.size(), 1));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n_threads; ++i) threads.emplace_back(worker);
  for (auto& th : threads) th.join();
  meter.finish(std::to_string(res.generated) + " generated, " + std::to_string(res.skipped) +
               " already there, " + std::to_string(res.failed) + " failed");
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

GeneratorRunResult run_generator(const std::vector<GeneratorTask>& tasks, const GeneratorOptions& options,
                                 const ProgressFn& progress, const dist::Communicator& comm) {
  if (comm.size() == 1) return run_generator(tasks, options, progress);
  std::vector<GeneratorTask> mine;
  for (size_t k = 0; k < tasks.size(); ++k)
    if (dist::owns(static_cast<int64_t>(k), comm.rank(), comm.size())) mine.push_back(tasks[k]);
  GeneratorRunResult part;
  dist::collectively(comm, [&] { part = run_generator(mine, options, progress); });
  GeneratorRunResult all;
  all.tasks = dist::sum(comm, part.tasks);
  all.skipped = dist::sum(comm, part.skipped);
  all.generated = dist::sum(comm, part.generated);
  all.failed = dist::sum(comm, part.failed);
  all.retried = dist::sum(comm, part.retried);
  all.seconds = dist::max(comm, part.seconds);
  std::string joined;  // NUL-separated: a failure's text may hold newlines
  for (const std::string& f : part.failures) joined += f + '\0';
  for (const std::string& theirs : comm.all_gather(joined))
    for (size_t at = 0, end; (end = theirs.find('\0', at)) != std::string::npos; at = end + 1)
      if (all.failures.size() < 10) all.failures.push_back(theirs.substr(at, end - at));
  return all;
}

}  // namespace diffmem::attack
