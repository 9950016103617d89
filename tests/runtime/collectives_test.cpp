// Collectives across 1, 2, 3 and 4 processes (Gloo on loopback), each rank checking every result.
#include <gtest/gtest.h>
#include <signal.h>

#include "runtime/collectives.h"
#include "tests/support/process_runner.h"

namespace nt {
namespace {

TEST(Collectives, WorldOfOneNeedsNoProcessGroup) {
  DistEnv env;
  EXPECT_EQ(init_process_group(env, ProcessGroupOptions{}), nullptr);
}

class CollectivesAcrossProcesses : public ::testing::TestWithParam<int> {};

TEST_P(CollectivesAcrossProcesses, EveryCollectiveGivesTheRightValues) {
  const int world_size = GetParam();
  const auto status = testing::run_world(NANOTRAIN_COLLECTIVES_WORKER, world_size, 120);
  for (int rank = 0; rank < world_size; ++rank) EXPECT_EQ(status[rank], 0) << "rank " << rank;
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, CollectivesAcrossProcesses, ::testing::Values(2, 3, 4));

// A rank stopped with SIGSTOP: the others' collective fails within the 6 s timeout, naming it
// (rank 0 hosts the store, so when it is the stuck one the others learn it from the silent
// store). The workers time the collective themselves; here only a bound against hanging.
class StuckRank : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(StuckRank, CollectiveFailsWithinTheTimeoutNamingIt) {
  const auto [world_size, stuck] = GetParam();
  const int port = testing::free_port();
  std::vector<pid_t> others;
  pid_t stuck_pid = -1;
  for (int rank = 0; rank < world_size; ++rank) {
    auto env = testing::worker_env(rank, world_size, port);
    env["NT_TEST_STUCK_RANK"] = std::to_string(stuck);
    const pid_t pid = testing::spawn({NANOTRAIN_COLLECTIVES_WORKER}, env);
    (rank == stuck ? stuck_pid : others.emplace_back()) = pid;
  }
  const auto status = testing::wait_all(others, 60);
  ::kill(stuck_pid, SIGKILL);
  testing::wait_all({stuck_pid}, 10);
  for (size_t i = 0; i < others.size(); ++i) EXPECT_EQ(status[i], 0) << "worker " << i;
}

INSTANTIATE_TEST_SUITE_P(WorldAndStuckRank, StuckRank,
                         ::testing::Values(std::pair{3, 1}, std::pair{2, 0}));

TEST(ProcessGroup, UnreachableMasterIsAClearError) {
  DistEnv env;
  env.rank = 1;
  env.world_size = 2;
  env.master_port = testing::free_port();  // nobody listens there
  ProcessGroupOptions options;
  options.timeout = std::chrono::seconds(2);
  try {
    init_process_group(env, options);
    ADD_FAILURE() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1: cannot reach the master store at 127.0.0.1:"),
              std::string::npos)
        << e.what();
  }
  env.master_addr = "no-such-host.invalid";
  EXPECT_THROW(init_process_group(env, options), std::runtime_error);
}

}  // namespace
}  // namespace nt
