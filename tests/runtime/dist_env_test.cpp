// Rank discovery from each launcher's environment (torchrun/ntrun, Slurm's srun, Open MPI,
// MPICH/Hydra), their precedence, and the errors for inconsistent values.
#include <gtest/gtest.h>

#include <map>

#include "runtime/dist_env.h"
#include "runtime/mpi_bootstrap.h"
#include "tests/support/expect_error.h"

namespace nt {
namespace {

// Sets exactly `vars` among the launcher variables for one test; the rest are unset, and every
// one is unset again afterwards.
class ScopedLauncherEnv {
 public:
  explicit ScopedLauncherEnv(const std::map<std::string, std::string>& vars) {
    clear();
    for (const auto& [name, value] : vars) setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedLauncherEnv() { clear(); }

 private:
  static void clear() {
    for (const char* name : {"RANK",
                             "WORLD_SIZE",
                             "LOCAL_RANK",
                             "LOCAL_WORLD_SIZE",
                             "GROUP_RANK",
                             "MASTER_ADDR",
                             "MASTER_PORT",
                             "SLURM_PROCID",
                             "SLURM_NTASKS",
                             "SLURM_STEP_NUM_TASKS",
                             "SLURM_LOCALID",
                             "SLURM_NODEID",
                             "SLURM_NTASKS_PER_NODE",
                             "SLURM_TASKS_PER_NODE",
                             "SLURM_STEP_TASKS_PER_NODE",
                             "SLURM_JOB_NODELIST",
                             "SLURM_STEP_NODELIST",
                             "SLURM_JOB_ID",
                             "SLURM_STEP_ID",
                             "SLURM_STEPID",
                             "OMPI_COMM_WORLD_RANK",
                             "OMPI_COMM_WORLD_SIZE",
                             "OMPI_COMM_WORLD_LOCAL_RANK",
                             "OMPI_COMM_WORLD_LOCAL_SIZE",
                             "PMIX_NAMESPACE",
                             "OMPI_MCA_ess_base_jobid",
                             "PMI_RANK",
                             "PMI_SIZE",
                             "PMI_ID",
                             "PMIX_RANK",
                             "MPI_LOCALRANKID",
                             "MPI_LOCALNRANKS",
                             "TORCHELASTIC_RESTART_COUNT",
                             "TORCHELASTIC_MAX_RESTARTS",
                             "TORCHELASTIC_RUN_ID",
                             "NANOTRAIN_JOB_SECRET",
                             "SLURM_RESTART_COUNT"})
      unsetenv(name);
  }
};

TEST(DistEnv, NothingSetIsAWorldOfOne) {
  ScopedLauncherEnv vars({});
  const auto env = read_dist_env();
  EXPECT_EQ(env.source, "none");
  EXPECT_FALSE(env.distributed());
}

TEST(DistEnv, NothingSetIsAFirstStart) {
  ScopedLauncherEnv vars({});
  EXPECT_FALSE(read_dist_env().restarted());
}

// A restart is the launcher's (ntrun, torchrun) or Slurm's requeue, under any launcher.
TEST(DistEnv, KnowsARestartedJob) {
  {
    ScopedLauncherEnv vars(
        {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_RESTART_COUNT", "0"}});
    EXPECT_FALSE(read_dist_env().restarted());
  }
  {
    ScopedLauncherEnv vars(
        {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_RESTART_COUNT", "3"}});
    const auto env = read_dist_env();
    EXPECT_EQ(env.restart_count, 3);
    EXPECT_TRUE(env.restarted());
  }
  {
    ScopedLauncherEnv vars({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"SLURM_RESTART_COUNT", "1"}});
    const auto env = read_dist_env();
    EXPECT_EQ(env.requeue_count, 1);
    EXPECT_TRUE(env.restarted());
  }
  {
    ScopedLauncherEnv vars(std::map<std::string, std::string>{{"SLURM_RESTART_COUNT", "x"}});
    testing::expect_error([] { read_dist_env(); },
                          "SLURM_RESTART_COUNT: expected an integer in [0, 1048576], found 'x'");
  }
}

// Snapshots are on by default when restarts are left, and belong to the launch that made them.
TEST(DistEnv, ReadsTheRestartsLeftAndTheJobSecret) {
  {
    ScopedLauncherEnv vars({{"RANK", "0"},
                            {"WORLD_SIZE", "2"},
                            {"TORCHELASTIC_MAX_RESTARTS", "3"},
                            {"TORCHELASTIC_RUN_ID", "job7"}});
    const auto env = read_dist_env();
    EXPECT_EQ(env.max_restarts, 3);
    EXPECT_EQ(env.job_secret, "job7");
  }
  {
    ScopedLauncherEnv vars({{"RANK", "0"},
                            {"WORLD_SIZE", "2"},
                            {"TORCHELASTIC_RUN_ID", "none"},
                            {"NANOTRAIN_JOB_SECRET", "5f0e"}});
    EXPECT_EQ(read_dist_env().job_secret, "5f0e");
  }
  {
    ScopedLauncherEnv vars(
        {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_MAX_RESTARTS", "-1"}});
    testing::expect_error([] { read_dist_env(); },
                          "TORCHELASTIC_MAX_RESTARTS: expected an integer");
  }
}

TEST(DistEnv, ReadsTorchrunVariablesAndNamesBadOnes) {
  ScopedLauncherEnv vars({{"RANK", "2"}, {"WORLD_SIZE", "4"}, {"MASTER_PORT", "1234"}});
  auto env = read_dist_env();
  EXPECT_EQ(env.source, "torchrun");
  EXPECT_EQ(env.rank, 2);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.master_port, 1234);
  setenv("RANK", "4", 1);
  testing::expect_error([] { read_dist_env(); }, "torchrun: rank 4 is not below the world size 4");
  setenv("RANK", "1", 1);
  setenv("MASTER_PORT", "70000", 1);
  testing::expect_error([] { read_dist_env(); },
                        "MASTER_PORT: expected an integer in [1, 65535], found '70000'");
}

TEST(DistEnv, ReadsSrunTasks) {
  // Task 5 of `srun -N 3 -n 7` on node 1 of gpu[07-09], where the nodes run 3, 3 and 1 tasks.
  ScopedLauncherEnv vars({{"SLURM_PROCID", "5"},
                          {"SLURM_NTASKS", "7"},
                          {"SLURM_LOCALID", "2"},
                          {"SLURM_NODEID", "1"},
                          {"SLURM_TASKS_PER_NODE", "3(x2),1"},
                          {"SLURM_JOB_NODELIST", "gpu[07-09]"},
                          {"SLURM_JOB_ID", "123456"},
                          {"SLURM_STEP_ID", "0"}});
  auto env = read_dist_env();
  EXPECT_EQ(env.source, "slurm");
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 7);
  EXPECT_EQ(env.local_rank, 2);
  EXPECT_EQ(env.local_world_size, 3);
  EXPECT_EQ(env.group_rank, 1);
  EXPECT_EQ(env.master_addr, "gpu07");
  EXPECT_EQ(env.master_port, kSlurmPortBase + 123456 % kSlurmPortRange);
  setenv("SLURM_NTASKS_PER_NODE", "4", 1);  // a fixed count wins over the per-node list
  setenv("MASTER_ADDR", "10.0.0.9", 1);     // and what the user sets wins over the derived
  setenv("MASTER_PORT", "29600", 1);
  env = read_dist_env();
  EXPECT_EQ(env.local_world_size, 4);
  EXPECT_EQ(env.master_addr, "10.0.0.9");
  EXPECT_EQ(env.master_port, 29600);
  unsetenv("SLURM_NTASKS_PER_NODE");
  setenv("SLURM_NODEID", "3", 1);
  testing::expect_error([] { read_dist_env(); },
                        "SLURM_TASKS_PER_NODE='3(x2),1' lists 3 nodes, but SLURM_NODEID is 3");
  setenv("SLURM_NODEID", "1", 1);
  setenv("SLURM_JOB_NODELIST", "gpu[07-09", 1);
  testing::expect_error([] { read_dist_env(); }, "hostlist 'gpu[07-09': '[' without ']'");
}

TEST(DistEnv, TorchrunVariablesWinOverSlurmAndSlurmOverMpi) {
  ScopedLauncherEnv vars({{"RANK", "1"},
                          {"WORLD_SIZE", "2"},
                          {"SLURM_PROCID", "0"},
                          {"SLURM_NTASKS", "1"},
                          {"SLURM_STEP_ID", "0"},
                          {"OMPI_COMM_WORLD_RANK", "0"},
                          {"OMPI_COMM_WORLD_SIZE", "1"},
                          {"MASTER_ADDR", "127.0.0.1"},
                          {"MASTER_PORT", "29500"}});
  EXPECT_EQ(read_dist_env().source, "torchrun");  // ntrun started under srun
  unsetenv("RANK");
  EXPECT_EQ(read_dist_env().source, "slurm");
  unsetenv("SLURM_STEP_ID");  // the batch script itself, not an srun task
  EXPECT_EQ(read_dist_env().source, "mpi");
}

TEST(DistEnv, ReadsOpenMpiAndMpichRanks) {
  ScopedLauncherEnv vars({{"OMPI_COMM_WORLD_RANK", "3"},
                          {"OMPI_COMM_WORLD_SIZE", "4"},
                          {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                          {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                          {"MASTER_ADDR", "node1"},
                          {"MASTER_PORT", "29500"}});
  auto env = read_dist_env();
  EXPECT_EQ(env.source, "mpi");
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
  EXPECT_EQ(env.group_rank, 1);
  EXPECT_EQ(env.master_addr, "node1");

  ScopedLauncherEnv hydra({{"PMI_RANK", "3"},
                           {"PMI_SIZE", "4"},
                           {"MPI_LOCALRANKID", "3"},
                           {"MPI_LOCALNRANKS", "4"},
                           {"MASTER_ADDR", "node1"},
                           {"MASTER_PORT", "29500"}});
  env = read_dist_env();
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  unsetenv("PMI_SIZE");
  testing::expect_error([] { read_dist_env(); }, "PMI_RANK is set but PMI_SIZE is not");
}

TEST(DistEnv, MpiWithoutMasterInABuildWithoutMpi) {
  if (mpi_bootstrap_available())
    GTEST_SKIP() << "this build bootstraps MASTER_* over MPI; tests/trainer/mpirun_test.sh "
                    "covers that path";
  ScopedLauncherEnv vars({{"OMPI_COMM_WORLD_RANK", "1"},
                          {"OMPI_COMM_WORLD_SIZE", "2"},
                          {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                          {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                          {"PMIX_NAMESPACE", "prterun-host-1234@1"}});
  auto env = read_dist_env();
  EXPECT_EQ(env.master_addr, "127.0.0.1");  // one node: loopback and a port from the job id
  EXPECT_GE(env.master_port, kSlurmPortBase);
  EXPECT_LT(env.master_port, kSlurmPortBase + kSlurmPortRange);
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "1", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0", 1);
  testing::expect_error([] { read_dist_env(); },
                        "MPI job across nodes (2 ranks, 1 on this node) in a build without MPI");
}

}  // namespace
}  // namespace nt
