#pragma once
// Ranks of one job as threads of the test process: a dist::Communicator whose collectives meet in
// shared memory, so a stage's several-rank path runs inside a unit test without mpirun (the MPI
// path itself is tried by scripts/mpi-trials.sh).
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "diffmem/core/error.h"
#include "diffmem/dist/communicator.h"

namespace diffmem::test {

class ThreadJob {
 public:
  explicit ThreadJob(int size) : size_(size), slots_(static_cast<size_t>(size)) {}
  int size() const { return size_; }

  // Every rank's bytes once every rank has given its own. A rank cannot enter the next round
  // before every rank has left this one, so `result_` holds until the last reader has copied it.
  std::vector<std::string> exchange(int rank, const std::string& mine) {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t round = round_;
    slots_[static_cast<size_t>(rank)] = mine;
    if (++arrived_ == size_) {
      result_ = slots_;
      arrived_ = 0;
      ++round_;
      ready_.notify_all();
    } else {
      ready_.wait(lock, [&] { return round_ != round; });
    }
    return result_;
  }

 private:
  int size_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<std::string> slots_, result_;
  int arrived_ = 0;
  int64_t round_ = 0;
};

class ThreadCommunicator : public dist::Communicator {
 public:
  ThreadCommunicator(ThreadJob& job, int rank) : job_(job), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return job_.size(); }
  int local_rank() const override { return rank_; }
  void barrier() const override { job_.exchange(rank_, ""); }
  std::vector<std::string> all_gather(const std::string& mine) const override { return job_.exchange(rank_, mine); }
  std::string broadcast(const std::string& bytes, int root) const override {
    return job_.exchange(rank_, rank_ == root ? bytes : "")[static_cast<size_t>(root)];
  }
  [[noreturn]] void abort(int) const override { std::abort(); }
  std::string describe() const override { return "threads"; }

 private:
  ThreadJob& job_;
  int rank_;
};

/// Runs `fn` as rank r of `size` threads; returns each rank's diffmem::Error message ("" when it
/// returned normally). Any other exception fails the process (std::terminate).
inline std::vector<std::string> run_ranks(int size, const std::function<void(const dist::Communicator&)>& fn) {
  ThreadJob job(size);
  std::vector<std::string> errors(static_cast<size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r)
    threads.emplace_back([&, r] {
      const ThreadCommunicator comm(job, r);
      try {
        fn(comm);
      } catch (const Error& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  for (std::thread& t : threads) t.join();
  return errors;
}

}  // namespace diffmem::test
