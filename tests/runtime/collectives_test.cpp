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

TEST(DistEnv, ReadsTorchrunVariablesAndNamesBadOnes) {
  setenv("RANK", "2", 1);
  setenv("WORLD_SIZE", "4", 1);
  setenv("MASTER_PORT", "1234", 1);
  auto env = read_dist_env();
  EXPECT_EQ(env.rank, 2);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.master_port, 1234);
  EXPECT_TRUE(env.from_launcher);
  setenv("RANK", "4", 1);
  EXPECT_THROW(read_dist_env(), std::invalid_argument);
  setenv("RANK", "1", 1);
  setenv("MASTER_PORT", "70000", 1);
  try {
    read_dist_env();
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_PORT: expected an integer in [1, 65535], "
                                         "found '70000'"),
              std::string::npos);
  }
  for (const char* name : {"RANK", "WORLD_SIZE", "MASTER_PORT"}) unsetenv(name);
}

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
