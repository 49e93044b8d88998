#include "ranks.h"

#include <cstdio>
#include <exception>

namespace diffmem::cli {

const dist::Communicator& ranks() { return dist::world(); }

JobLock::JobLock(const std::filesystem::path& dir, const std::string& flag) {
  const dist::Communicator& comm = ranks();
  dist::collectively(comm, [&] {
    if (comm.rank() == 0) lock_ = std::make_unique<core::RunLock>(dir, flag);
  });
}

JobLock::~JobLock() {
  const dist::Communicator& comm = ranks();
  if (comm.size() > 1 && std::uncaught_exceptions() == 0) {
    try {
      comm.barrier();
    } catch (const std::exception&) {
    }
  }
}

void print_model_lines(int64_t models, const std::string& mine) {
  const std::vector<std::string> all = ranks().all_gather(mine);
  if (!prints()) return;
  // Model k is the (k / ranks)-th line of rank k % ranks.
  std::vector<size_t> at(all.size(), 0);
  for (int64_t k = 0; k < models; ++k) {
    const std::string& from = all[static_cast<size_t>(k) % all.size()];
    size_t& pos = at[static_cast<size_t>(k) % all.size()];
    const size_t end = from.find('\n', pos);
    if (end == std::string::npos) break;
    std::fwrite(from.data() + pos, 1, end + 1 - pos, stdout);
    pos = end + 1;
  }
}

void one_process_only(const std::string& what, std::initializer_list<const char*> split) {
  const dist::Communicator& comm = ranks();
  if (comm.size() == 1) return;
  for (const char* s : split)
    if (what == s) return;
  throw dist::CollectiveError(what + ": expected one process (it does not split its work over ranks yet; under "
                              "mpirun/srun: sample, extract, train --models, train-gan --models, mia, the audit, screen, extract-blackbox and inpaint do), found " +
                              std::to_string(comm.size()) + " ranks");
}

}  // namespace diffmem::cli
