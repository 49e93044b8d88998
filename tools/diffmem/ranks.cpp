#include "ranks.h"

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

void one_process_only(const std::string& what, std::initializer_list<const char*> split) {
  const dist::Communicator& comm = ranks();
  if (comm.size() == 1) return;
  for (const char* s : split)
    if (what == s) return;
  throw dist::CollectiveError(what + ": expected one process (it does not split its work over ranks yet; under "
                              "mpirun/srun: sample, extract, train --models, mia, the audit, screen, extract-blackbox and inpaint do), found " +
                              std::to_string(comm.size()) + " ranks");
}

}  // namespace diffmem::cli
