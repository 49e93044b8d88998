#pragma once
// Ranks of one job: the processes `mpirun -np N diffmem …` (or `srun diffmem …`) starts. A long
// stage splits its work by rank (shards s with s % size == rank, models k with k % size == rank),
// each rank writes only what it owns, and rank 0 merges what is written once. One process is a
// job of one rank, so every stage runs the same code with or without MPI.
//
// No MPI type appears here: the MPI implementation lives in src/dist/ and is compiled only when
// CMake found MPI (DIFFMEM_HAVE_MPI); a build without it runs one rank and refuses to be started
// as one of several (it would redo the whole job N times into the same folder).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "diffmem/core/error.h"

namespace diffmem::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// This rank's position among the ranks on its own machine (for one GPU per rank).
  virtual int local_rank() const = 0;
  virtual void barrier() const = 0;
  /// Every rank's bytes, in rank order, on every rank.
  virtual std::vector<std::string> all_gather(const std::string& mine) const = 0;
  /// The bytes of rank `root`, on every rank (`bytes` is read on root only).
  virtual std::string broadcast(const std::string& bytes, int root = 0) const = 0;
  /// Ends every rank of the job at once, with exit status `code` (a rank failed on its own, where
  /// the others may wait for it forever).
  [[noreturn]] virtual void abort(int code) const = 0;
  /// "MPI", "one process".
  virtual std::string describe() const = 0;
};

/// The one-rank communicator: collectives return at once.
const Communicator& single();

/// The job's communicator: MPI's world when this build has MPI and the process was started by an
/// MPI launcher (mpirun, srun), else single(). Throws diffmem::Error when the environment says
/// this process is one of several ranks but the build has no MPI.
const Communicator& world();

/// Whether this build has MPI.
bool have_mpi();

/// The rank an MPI launcher's environment (Open MPI, PMIx, PMI) gives this process, read without
/// starting MPI; -1 when no launcher started it.
int launcher_rank();

/// An error every rank throws together (from collectively()); the CLI prints it once, on rank 0.
class CollectiveError : public Error {
 public:
  explicit CollectiveError(const std::string& message) : Error(message) {}
};

/// Runs `fn` on every rank, then agrees: when any rank threw, every rank throws one CollectiveError
/// "rank R: MESSAGE" naming the lowest failing rank (MESSAGE alone with one rank). `fn` must not
/// itself use the communicator. Without MPI it simply runs `fn`.
void collectively(const Communicator& comm, const std::function<void()>& fn);

/// Sums over ranks (every rank gets the total).
int64_t sum(const Communicator& comm, int64_t mine);
double sum(const Communicator& comm, double mine);
/// The largest value over ranks.
double max(const Communicator& comm, double mine);

/// Checks that every rank holds the same `text` (its options, say); throws one CollectiveError on
/// every rank naming the first rank whose text differs from rank 0's and `what` it is.
void check_same(const Communicator& comm, const std::string& what, const std::string& text);

/// Whether rank `rank` of `size` owns item `index` (round robin: index % size == rank).
inline bool owns(int64_t index, int rank, int size) { return index % size == rank; }

}  // namespace diffmem::dist
