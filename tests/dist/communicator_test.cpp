// The communicator's collectives: one process here; CommunicatorJob.* again under
// `mpirun -np 3` (scripts/mpi-trials.sh), where every rank checks what it received.
#include "diffmem/dist/communicator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <thread>

namespace diffmem::dist {
namespace {

TEST(Communicator, OneProcessIsRankZeroOfOne) {
  const Communicator& c = single();
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  EXPECT_EQ(c.all_gather("abc"), std::vector<std::string>{"abc"});
  EXPECT_EQ(c.broadcast("xyz"), "xyz");
  EXPECT_EQ(sum(c, int64_t{7}), 7);
  EXPECT_DOUBLE_EQ(max(c, 2.5), 2.5);
  EXPECT_NO_THROW(check_same(c, "options", "a"));
}

TEST(Communicator, OneProcessRethrowsTheErrorItself) {
  // With one rank the caller sees its own exception, of its own type.
  EXPECT_THROW(collectively(single(), [] { throw std::out_of_range("x"); }), std::out_of_range);
  int ran = 0;
  collectively(single(), [&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

TEST(Communicator, RoundRobinOwnership) {
  int owners[7] = {};
  for (int64_t i = 0; i < 7; ++i)
    for (int r = 0; r < 3; ++r) owners[i] += owns(i, r, 3);
  for (int n : owners) EXPECT_EQ(n, 1);  // each item exactly one rank's
  EXPECT_TRUE(owns(4, 1, 3));
  EXPECT_FALSE(owns(4, 0, 3));
}

TEST(Communicator, WithoutALauncherTheWorldIsOneProcess) {
  if (launcher_rank() >= 0) GTEST_SKIP() << "started by an MPI launcher";
  EXPECT_EQ(&world(), &single());
}

// Under mpirun -np N (N >= 2): every collective, checked on every rank.
TEST(CommunicatorJob, CollectivesAgreeOnEveryRank) {
  const Communicator& c = world();
  if (c.size() < 2) GTEST_SKIP() << "one rank (run under mpirun -np 3)";
  const int r = c.rank(), n = c.size();
  const std::vector<std::string> all = c.all_gather(std::string(static_cast<size_t>(r), 'x') + std::to_string(r));
  ASSERT_EQ(static_cast<int>(all.size()), n);
  for (int i = 0; i < n; ++i) EXPECT_EQ(all[i], std::string(static_cast<size_t>(i), 'x') + std::to_string(i));
  EXPECT_EQ(c.broadcast(r == 1 ? "from one" : "ignored", 1), "from one");
  EXPECT_EQ(c.broadcast(r == 0 ? std::string(100000, 'b') : "", 0), std::string(100000, 'b'));
  EXPECT_EQ(sum(c, int64_t{r + 1}), int64_t{n} * (n + 1) / 2);
  EXPECT_DOUBLE_EQ(sum(c, 0.5), 0.5 * n);
  EXPECT_DOUBLE_EQ(max(c, static_cast<double>(r)), n - 1.0);
  EXPECT_NO_THROW(check_same(c, "options", "same"));
  try {
    check_same(c, "options", r == n - 1 ? "other" : "same");
    ADD_FAILURE() << "different options were accepted";
  } catch (const CollectiveError& e) {
    EXPECT_NE(std::string(e.what()).find("rank " + std::to_string(n - 1) + ": options differs"), std::string::npos)
        << e.what();
  }
  // The lowest failing rank is named on every rank; the others' errors do not hide it.
  try {
    collectively(c, [&] {
      if (r >= 1) throw Error("disk of rank " + std::to_string(r) + " full");
    });
    ADD_FAILURE() << "an error on rank 1 was not seen";
  } catch (const CollectiveError& e) {
    EXPECT_EQ(std::string(e.what()), "rank 1: disk of rank 1 full");
  }
  EXPECT_NO_THROW(collectively(c, [] {}));
  c.barrier();
  EXPECT_GE(c.local_rank(), 0);
  EXPECT_LT(c.local_rank(), n);
}

// A rank waiting in a collective for another's long step sleeps: MPI's blocking collectives
// would spin, holding a core the working rank may need (rank 0 training the audit's target).
TEST(CommunicatorJob, AWaitingRankSleeps) {
  const Communicator& c = world();
  if (c.size() < 2) GTEST_SKIP() << "one rank (run under mpirun -np 3)";
  c.barrier();
  const std::clock_t cpu0 = std::clock();
  const auto wall0 = std::chrono::steady_clock::now();
  if (c.rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const std::vector<std::string> all = c.all_gather("x");
  const double cpu = double(std::clock() - cpu0) / CLOCKS_PER_SEC;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  EXPECT_EQ(all.size(), static_cast<size_t>(c.size()));
  if (c.rank() != 0) {
    EXPECT_GE(wall, 1.4);           // it did wait for rank 0
    EXPECT_LT(cpu, 0.25 * wall) << "a waiting rank used " << cpu << " s of CPU in " << wall << " s";
  }
}

}  // namespace
}  // namespace diffmem::dist
