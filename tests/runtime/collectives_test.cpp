// Collectives across 1, 2, 3 and 4 processes (Gloo on loopback), each rank checking every result.
#include <gtest/gtest.h>

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
