#include "ranks.h"

#include <cstdlib>
#include <exception>

namespace diffmem::cli {

const dist::Communicator& ranks() { return dist::world(); }

JobLock::JobLock(const std::filesystem::path& dir, const std::string& flag) {
  const dist::Communicator& comm = ranks();
  dist::collectively(comm, [&] {
    if (comm.rank() == 0) lock_ = std::make_unique<core::RunLock>(dir, flag);
  });
}

void one_process_only(const std::string& what, std::initializer_list<const char*> split) {
  const dist::Communicator& comm = ranks();
  if (comm.size() == 1) return;
  for (const char* s : split)
    if (what == s) return;
  throw dist::CollectiveError(what + ": expected one process (it does not split its work over ranks yet; under "
                              "mpirun/srun: sample, extract, train --models, mia and the audit do), found " +
                              std::to_string(comm.size()) + " ranks");
}

bool launched() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name)) return true;
  return false;
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

int launched_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return 0;
}

}  // namespace diffmem::cli
