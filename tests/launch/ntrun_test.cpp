// ntrun end to end with small shell workers and the real collectives worker: the environment
// each worker sees, failures and their summary, restarts, signal forwarding, no orphans, and two
// node agents forming one world.
#include <signal.h>
#include <sys/wait.h>

#include "tests/launch/ntrun_fixture.h"

namespace nt {
namespace {

TEST_F(NtrunTest, WorkersSeeTorchrunEnvironment) {
  const auto worker = script("env.sh",
                             "env | grep -E '^(RANK|LOCAL_RANK|GROUP_RANK|ROLE_[A-Z_]*|WORLD_SIZE|"
                             "LOCAL_WORLD_SIZE|GROUP_WORLD_SIZE|MASTER_ADDR|MASTER_PORT|"
                             "TORCHELASTIC_[A-Z_]*|TORCH_NCCL_[A-Z_]*|OMP_NUM_THREADS)=' | "
                             "grep -v ^TORCHELASTIC_ERROR_FILE= | LC_ALL=C sort > $OUT/env.$RANK\n"
                             "echo \"$TORCHELASTIC_ERROR_FILE\" > $OUT/error_file.$RANK");
  ASSERT_EQ(ntrun({"--nproc-per-node=2", "--master_port", "29611", "--run_id", "job7",
                   "--max_restarts=3", "--role", "trainer", "--log_dir", dir_ + "/logs", worker}),
            0)
      << err();
  for (int rank = 0; rank < 2; ++rank) {
    const std::string expected = fmt::format(
        "GROUP_RANK=0\nGROUP_WORLD_SIZE=1\nLOCAL_RANK={0}\nLOCAL_WORLD_SIZE=2\n"
        "MASTER_ADDR=127.0.0.1\nMASTER_PORT=29611\nOMP_NUM_THREADS={1}\nRANK={0}\n"
        "ROLE_NAME=trainer\nROLE_RANK={0}\nROLE_WORLD_SIZE=2\n"
        "TORCHELASTIC_MAX_RESTARTS=3\nTORCHELASTIC_RESTART_COUNT=0\nTORCHELASTIC_RUN_ID=job7\n"
        "TORCHELASTIC_SIGNALS_TO_HANDLE=SIGTERM,SIGINT,SIGHUP,SIGQUIT\n"
        "TORCHELASTIC_USE_AGENT_STORE=True\nTORCH_NCCL_ASYNC_ERROR_HANDLING={2}\nWORLD_SIZE=2\n",
        rank,
        std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS")
                                       : std::to_string(std::max(1, allowed_cpus() / 2)),
        std::getenv("TORCH_NCCL_ASYNC_ERROR_HANDLING")
            ? std::getenv("TORCH_NCCL_ASYNC_ERROR_HANDLING")
            : "1");
    EXPECT_EQ(read_file(dir_ + "/env." + std::to_string(rank)), expected);
    EXPECT_EQ(read_file(dir_ + "/error_file." + std::to_string(rank)),
              fmt::format("{}/logs/job7/attempt_0/{}/error.json\n", dir_, rank));
  }
}

TEST_F(NtrunTest, ThreadsFollowTheAffinityMaskNotTheCoreCount) {
  // Under taskset (as under Slurm's --cpus-per-task) ntrun counts the CPUs it may use: one CPU
  // gives --nproc_per_node=cpu one worker, and that worker one thread.
  const auto worker = script("threads.sh", "echo \"$OMP_NUM_THREADS\" > $OUT/threads.$RANK");
  const auto cpus = allowed_cpu_ids();
  ASSERT_FALSE(cpus.empty());
  ASSERT_EQ(ntrun({"--standalone", "--nproc_per_node=cpu", worker}, 60,
                  fmt::format("env -u OMP_NUM_THREADS taskset -c {} ", cpus[0])),
            0)
      << err();
  EXPECT_EQ(read_file(dir_ + "/threads.0"), "1\n");
  EXPECT_FALSE(fs::exists(dir_ + "/threads.1"));
  if (cpus.size() < 2) GTEST_SKIP() << "one CPU: the two-CPU mask needs two";
  ASSERT_EQ(ntrun({"--standalone", "--nproc_per_node=1", worker}, 60,
                  fmt::format("env -u OMP_NUM_THREADS taskset -c {},{} ", cpus[0], cpus[1])),
            0)
      << err();
  EXPECT_EQ(read_file(dir_ + "/threads.0"), "2\n");
}

TEST_F(NtrunTest, FailingWorkerStopsOthersAndIsNamed) {
  // Rank 2 fails only once every rank has its TERM handler in place.
  const auto worker = script("fail.sh", R"(
trap 'echo $RANK > $OUT/term.$RANK; exit 0' TERM
touch $OUT/ready.$RANK
if [ "$RANK" = 2 ]; then
  while [ $(ls $OUT | grep -c '^ready') -lt 4 ]; do sleep 0.05; done
  echo "loss went NaN at step 7" >&2; exit 3
fi
sleep 60 & wait)");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ntrun({"--standalone", "--nproc_per_node=4", "--shutdown_timeout=5", worker}), 1);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30);
  const std::string e = err();
  EXPECT_NE(e.find("rank      : 2 (local_rank 2)"), std::string::npos) << e;
  EXPECT_NE(e.find("error     : exit code 3"), std::string::npos) << e;
  EXPECT_NE(e.find("    loss went NaN at step 7"), std::string::npos) << e;
  for (int rank : {0, 1, 3})
    EXPECT_TRUE(fs::exists(dir_ + "/term." + std::to_string(rank))) << rank;
}

TEST_F(NtrunTest, KilledWorkerIsRestarted) {
  const auto worker = script("flaky.sh", R"(
echo $TORCHELASTIC_RESTART_COUNT >> $OUT/attempts.$RANK
if [ "$RANK" = 1 ] && [ "$TORCHELASTIC_RESTART_COUNT" -lt 2 ]; then
  until grep -qx $TORCHELASTIC_RESTART_COUNT $OUT/attempts.0 2> /dev/null; do sleep 0.05; done
  kill -9 $$
fi
sleep 0.5)");
  EXPECT_EQ(ntrun({"--standalone", "--nproc_per_node=2", "--max_restarts=2", "--shutdown_timeout=5",
                   worker}),
            0)
      << err();
  EXPECT_EQ(read_file(dir_ + "/attempts.0"), "0\n1\n2\n");
  EXPECT_EQ(read_file(dir_ + "/attempts.1"), "0\n1\n2\n");
  EXPECT_NE(err().find("signal 9 (SIGKILL)"), std::string::npos) << err();
  EXPECT_NE(err().find("restarting workers (restart 2 of 2)"), std::string::npos) << err();
}

TEST_F(NtrunTest, SignalsReachEveryWorkerAndNoneOutlivesNtrun) {
  // The pid file appears (atomically) once both handlers are in place.
  const auto worker = script("sig.sh", R"(
trap 'echo usr1 >> $OUT/sig.$RANK' USR1
trap 'echo term >> $OUT/sig.$RANK; stopping=1' TERM
echo $$ > $OUT/pid.tmp.$RANK && mv $OUT/pid.tmp.$RANK $OUT/pid.$RANK
while [ -z "$stopping" ]; do sleep 0.05; done
sleep 0.5  # a second SIGTERM from ntrun would be recorded here
exit 0)");
  const pid_t agent =
      testing::spawn({NANOTRAIN_NTRUN, "--standalone", "--nproc_per_node=3", worker}, {});
  for (int r = 0; r < 3; ++r) ASSERT_TRUE(wait_for("pid." + std::to_string(r))) << r;
  kill(agent, SIGUSR1);
  for (int r = 0; r < 3; ++r) ASSERT_TRUE(wait_for("sig." + std::to_string(r))) << r;
  kill(agent, SIGTERM);
  EXPECT_EQ(testing::wait_all({agent}, 30)[0], 1);  // as torchrun
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(read_file(dir_ + "/sig." + std::to_string(r)), "usr1\nterm\n") << r;
    const pid_t pid = std::stoi(read_file(dir_ + "/pid." + std::to_string(r)));
    EXPECT_TRUE(gone(pid)) << "worker " << r << " outlived ntrun";
  }
}

TEST_F(NtrunTest, KilledLauncherTakesItsWorkersAlong) {
  const auto worker =
      script("orphan.sh",
             "echo $$ > $OUT/pid.tmp.$RANK && mv $OUT/pid.tmp.$RANK $OUT/pid.$RANK; exec sleep 60");
  const pid_t agent =
      testing::spawn({NANOTRAIN_NTRUN, "--standalone", "--nproc_per_node=2", worker}, {});
  for (int r = 0; r < 2; ++r) ASSERT_TRUE(wait_for("pid." + std::to_string(r))) << r;
  kill(agent, SIGKILL);
  testing::wait_all({agent}, 10);
  for (int r = 0; r < 2; ++r) {
    const pid_t pid = std::stoi(read_file(dir_ + "/pid." + std::to_string(r)));
    EXPECT_TRUE(gone(pid)) << "worker " << r << " outlived a SIGKILLed ntrun";
  }
}

TEST_F(NtrunTest, CollectivesWorkUnderNtrun) {
  EXPECT_EQ(ntrun({"--standalone", "--nproc_per_node=4", NANOTRAIN_COLLECTIVES_WORKER}), 0)
      << err();
  EXPECT_EQ(read_file(dir_ + "/ntrun.out").size(), std::string("rank 0: ok\n").size() * 4);
}

TEST_F(NtrunTest, TwoNodeAgentsFormOneWorldAndRestartTogether) {
  const auto worker = script("node.sh", R"(
echo "$GROUP_RANK $TORCHELASTIC_RESTART_COUNT $WORLD_SIZE" >> $OUT/seen.$RANK
if [ "$TORCHELASTIC_RESTART_COUNT" = 0 ]; then
  # Rank 2 fails once all four ranks have recorded the first attempt; the others wait for it.
  [ "$RANK" = 2 ] || exec sleep 60
  while [ $(cat $OUT/seen.* | wc -l) -lt 4 ]; do sleep 0.05; done
  exit 5
fi
sleep 1)");
  const int port = testing::free_port();
  const auto agents = start_agents(
      2,
      [&](int node) {
        return fmt::format(
            "--nnodes=2 --node_rank={} --nproc_per_node=2 --master_port={} --max_restarts=1 "
            "--run_id=two --shutdown_timeout=5",
            node, port);
      },
      worker);
  const auto status = testing::wait_all(agents, 90);
  EXPECT_EQ(status[0], 0) << read_file(dir_ + "/agent0.err");
  EXPECT_EQ(status[1], 0) << read_file(dir_ + "/agent1.err");
  // Ranks 0-1 on node 0, 2-3 on node 1; every rank ran twice, in a world of 4.
  for (int rank = 0; rank < 4; ++rank)
    EXPECT_EQ(read_file(dir_ + "/seen." + std::to_string(rank)),
              fmt::format("{0} 0 4\n{0} 1 4\n", rank / 2))
        << rank;
  EXPECT_NE(read_file(dir_ + "/agent0.err").find("another node's workers failed"),
            std::string::npos);
}

TEST_F(NtrunTest, BadFlagsAndUnreachableMasterAreClearErrors) {
  EXPECT_EQ(ntrun({"--standalone", "--nproc_per_node=0", "/bin/true"}), 1);
  EXPECT_NE(err().find("--nproc_per_node: expected an integer in [1, 4096], found 0"),
            std::string::npos)
      << err();
  const std::pair<std::vector<std::string>, std::string> out_of_range[] = {
      {{"--nproc_per_node=-2"}, "--nproc_per_node: expected an integer in [1, 4096], found -2"},
      {{"--nproc_per_node=99999"}, "expected an integer in [1, 4096], found 99999"},
      {{"--nproc_per_node=two"}, "--nproc_per_node: expected an integer, found 'two'"},
      {{"--master_port=70000"}, "--master_port: expected an integer in [1, 65535], found 70000"},
      {{"--master_port=0"}, "--master_port: expected an integer in [1, 65535], found 0"},
      {{"--max_restarts=-1"}, "--max_restarts: expected an integer in [0, 1000000], found -1"},
      {{"--nnodes=0"}, "--nnodes: expected an integer in [1, 65536], found 0"},
      {{"--nnodes=2", "--node_rank=2"}, "--node_rank 2 must be below --nnodes 2"},
      {{"--shutdown_timeout=0"}, "--shutdown_timeout: expected a positive number of seconds"},
      {{"--monitor_interval=inf"}, "--monitor_interval: expected a positive number of seconds"},
      {{"--rdzv_timeout=-5"}, "--rdzv_timeout: expected a positive number of seconds"},
      {{"--standalone", "--nnodes=2"}, "--standalone runs one node"},
      {{"--master_port"}, "--master_port: expected a value"},
  };
  for (auto [flags, message] : out_of_range) {
    if (flags.back() != "--master_port") flags.push_back("/bin/true");
    EXPECT_EQ(ntrun(flags), 1) << flags[0];
    EXPECT_NE(err().find(message), std::string::npos) << err();
  }
  EXPECT_EQ(ntrun({"--bogus=1", "/bin/true"}), 1);
  EXPECT_NE(err().find("unknown flag --bogus"), std::string::npos);
  EXPECT_EQ(ntrun({"--standalone", "--nproc_per_node=2"}), 1);
  EXPECT_NE(err().find("expected a program to launch"), std::string::npos);
  EXPECT_EQ(ntrun({"--nnodes=2", "--node_rank=1", "--master_port",
                   std::to_string(testing::free_port()), "--rdzv_timeout=2", "/bin/true"}),
            1);
  EXPECT_NE(err().find("node 1: cannot reach the rendezvous at 127.0.0.1:"), std::string::npos)
      << err();
}

}  // namespace
}  // namespace nt
