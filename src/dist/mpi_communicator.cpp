// The communicator over MPI_COMM_WORLD (the C API: Open MPI's C++ bindings are long deprecated).
// Compiled into every build; its body only where CMake found MPI.
#include "mpi_communicator.h"

#ifdef DIFFMEM_HAVE_MPI
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <numeric>
#include <thread>
#endif

namespace diffmem::dist::detail {

#ifndef DIFFMEM_HAVE_MPI

bool mpi_built() { return false; }
const Communicator& mpi_world() { fail("MPI", "a build with MPI", "a build without it"); }

#else

namespace {

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  fail(call, std::string(text, static_cast<size_t>(len)));
}

class Mpi final : public Communicator {
 public:
  Mpi() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // Only the main thread calls MPI; the stages' own threads (OpenMP, --jobs) never do.
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
              "MPI_Comm_split_type");
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  void barrier() const override { arrive(); }

  std::vector<std::string> all_gather(const std::string& mine) const override {
    arrive();
    const long long mine_size = static_cast<long long>(mine.size());
    std::vector<long long> sizes(static_cast<size_t>(size_));
    check_mpi(MPI_Allgather(&mine_size, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, MPI_COMM_WORLD),
              "MPI_Allgather");
    const long long total = std::accumulate(sizes.begin(), sizes.end(), 0LL);
    if (total > INT32_MAX) fail("MPI_Allgatherv", "at most 2 GiB gathered at once", std::to_string(total) + " bytes");
    std::vector<int> counts(sizes.begin(), sizes.end()), displs(counts.size(), 0);
    for (size_t r = 1; r < counts.size(); ++r) displs[r] = displs[r - 1] + counts[r - 1];
    std::string all(static_cast<size_t>(total), '\0');
    check_mpi(MPI_Allgatherv(mine.data(), static_cast<int>(mine.size()), MPI_CHAR, all.data(), counts.data(),
                             displs.data(), MPI_CHAR, MPI_COMM_WORLD),
              "MPI_Allgatherv");
    std::vector<std::string> out;
    for (size_t r = 0; r < counts.size(); ++r) out.push_back(all.substr(displs[r], counts[r]));
    return out;
  }

  std::string broadcast(const std::string& bytes, int root) const override {
    arrive();
    long long n = rank_ == root ? static_cast<long long>(bytes.size()) : 0;
    check_mpi(MPI_Bcast(&n, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "MPI_Bcast");
    if (n > INT32_MAX) fail("MPI_Bcast", "at most 2 GiB broadcast at once", std::to_string(n) + " bytes");
    std::string out = rank_ == root ? bytes : std::string(static_cast<size_t>(n), '\0');
    check_mpi(MPI_Bcast(out.data(), static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD), "MPI_Bcast");
    return out;
  }

  [[noreturn]] void abort(int code) const override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }
  std::string describe() const override {
    return "MPI, rank " + std::to_string(rank_) + " of " + std::to_string(size_);
  }

 private:
  // Waits for every rank to reach this point, asleep: MPI's blocking collectives spin while they
  // wait, so a rank waiting through another's long step (rank 0 training the audit's target)
  // would hold a core at 50–100% for nothing, on a node it shares with the ranks doing the work.
  // A non-blocking barrier polled with sleeps that grow from 50 µs to 5 ms costs a collective a
  // few microseconds when the ranks arrive together and at most 5 ms when they do not.
  void arrive() const {
    MPI_Request request;
    check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
    auto nap = std::chrono::microseconds(50);
    for (;;) {
      int done = 0;
      check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) return;
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds(5000));
    }
  }

  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

bool mpi_built() { return true; }

const Communicator& mpi_world() {
  static const Mpi m;
  return m;
}

#endif

}  // namespace diffmem::dist::detail
