#pragma once
// The CLI's side of an MPI job (dist/communicator.h): the job's ranks, the folder lock rank 0
// holds for all of them, and which rank prints.
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>

#include "diffmem/core/run_lock.h"
#include "diffmem/dist/communicator.h"

namespace diffmem::cli {

/// The job's communicator (dist::world()): one rank without an MPI launcher.
const dist::Communicator& ranks();

/// Whether this process prints results (rank 0; the others stay silent but for their errors).
inline bool prints() { return ranks().rank() == 0; }

/// One job per output folder: rank 0 holds `dir`'s core::RunLock for the whole job, and every rank
/// fails together when it cannot (another run holds it).
class JobLock {
 public:
  JobLock(const std::filesystem::path& dir, const std::string& flag);
  /// Waits for every rank (unless an error is unwinding this one) so that the lock outlives the
  /// last rank's writes.
  ~JobLock();
  JobLock(const JobLock&) = delete;
  JobLock& operator=(const JobLock&) = delete;

 private:
  std::unique_ptr<core::RunLock> lock_;
};

/// Refuses an MPI job of several ranks (one CollectiveError on every rank) unless `what` is among
/// `split`: the commands and paths that divide their work by rank. The others would redo the whole
/// job on every rank, into the same folders.
void one_process_only(const std::string& what, std::initializer_list<const char*> split = {});

/// K models over the job's ranks (model k on rank k % ranks): `mine` is this rank's models' result
/// lines in model order, each ending with a newline; rank 0 prints all K lines in model order.
/// Collective: every rank calls it.
void print_model_lines(int64_t models, const std::string& mine);

}  // namespace diffmem::cli
