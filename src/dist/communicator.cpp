// The one-rank communicator, the choice of the job's communicator, and the collectives built on
// all_gather (agreement on errors and options, sums).
#include "diffmem/dist/communicator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mpi_communicator.h"

namespace diffmem::dist {
namespace {

class Single final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  void barrier() const override {}
  std::vector<std::string> all_gather(const std::string& mine) const override { return {mine}; }
  std::string broadcast(const std::string& bytes, int) const override { return bytes; }
  [[noreturn]] void abort(int code) const override { std::exit(code); }
  std::string describe() const override { return "one process"; }
};

// The rank count an MPI launcher announces to the processes it starts (Open MPI's mpirun, Slurm's
// srun with PMIx or PMI-2, MPICH's Hydra); 1 when none does.
int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "SLURM_NTASKS"}) {
    const char* v = std::getenv(name);
    if (v && *v) {
      const int n = std::atoi(v);
      if (n >= 1) return n;
    }
  }
  return 1;
}

}  // namespace

const Communicator& single() {
  static const Single s;
  return s;
}

bool have_mpi() { return detail::mpi_built(); }

// SLURM_NTASKS is set for a plain `sbatch` script's one process too: a process is one of a job's
// ranks only when a launcher's PMI names its rank.
int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return -1;
}

const Communicator& world() {
  if (launcher_rank() < 0) return single();
  if (have_mpi()) return detail::mpi_world();
  const int n = launched_ranks();
  if (n > 1)
    fail("mpirun/srun", "a diffmem built with MPI (scripts/setup.sh installs libopenmpi-dev; CMake found no MPI "
                        "for this build) to run as one of " + std::to_string(n) + " ranks",
         "a build without MPI: each rank would redo the whole job into the same folders");
  return single();
}

void collectively(const Communicator& comm, const std::function<void()>& fn) {
  std::string error;
  try {
    fn();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "failed";
    if (comm.size() == 1) throw;
  }
  if (comm.size() == 1) return;
  const std::vector<std::string> all = comm.all_gather(error);
  for (size_t r = 0; r < all.size(); ++r)
    if (!all[r].empty()) throw CollectiveError("rank " + std::to_string(r) + ": " + all[r]);
}

namespace {
template <typename T>
std::string bytes_of(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
T value_of(const std::string& s) {
  T v{};
  if (s.size() == sizeof v) std::memcpy(&v, s.data(), sizeof v);
  return v;
}
}  // namespace

int64_t sum(const Communicator& comm, int64_t mine) {
  if (comm.size() == 1) return mine;
  int64_t total = 0;
  for (const std::string& s : comm.all_gather(bytes_of(mine))) total += value_of<int64_t>(s);
  return total;
}

double sum(const Communicator& comm, double mine) {
  if (comm.size() == 1) return mine;
  double total = 0;
  for (const std::string& s : comm.all_gather(bytes_of(mine))) total += value_of<double>(s);
  return total;
}

double max(const Communicator& comm, double mine) {
  if (comm.size() == 1) return mine;
  double best = mine;
  for (const std::string& s : comm.all_gather(bytes_of(mine))) best = std::max(best, value_of<double>(s));
  return best;
}

void check_same(const Communicator& comm, const std::string& what, const std::string& text) {
  if (comm.size() == 1) return;
  const std::vector<std::string> all = comm.all_gather(text);
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw CollectiveError("rank " + std::to_string(r) + ": " + what + " differs from rank 0's ('" +
                            one_line(all[r]) + "' against '" + one_line(all[0]) +
                            "'): every rank must run the same command");
}

}  // namespace diffmem::dist
