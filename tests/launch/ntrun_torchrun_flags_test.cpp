// ntrun with torchrun's command line as people type it: --redirects and --tee with values,
// --local_ranks_filter, python programs (-m, .py, --no_python), the error file a failing worker
// writes, the elastic c10d rendezvous (--nnodes MIN:MAX), the flags' PET_* defaults and the
// flags' errors.
#include "tests/launch/ntrun_fixture.h"

namespace nt {
namespace {

TEST_F(NtrunTest, RedirectsAndTeeTakeTorchrunsValues) {
  const auto worker = script("io.sh", "echo out $RANK; echo err $RANK >&2");
  // stdout to its file only, stderr to its file and the console; "3" after --tee is its value,
  // not the program.
  ASSERT_EQ(ntrun({"--standalone", "--nproc_per_node=2", "--log_dir", dir_ + "/logs", "--run_id",
                   "io", "--redirects", "1", "--tee", "2", worker}),
            0)
      << err();
  for (int rank = 0; rank < 2; ++rank) {
    const std::string logs = fmt::format("{}/logs/io/attempt_0/{}/", dir_, rank);
    EXPECT_EQ(read_file(logs + "stdout.log"), fmt::format("out {}\n", rank));
    EXPECT_EQ(read_file(logs + "stderr.log"), fmt::format("err {}\n", rank));
    EXPECT_NE(err().find(fmt::format("[rank {0}]: err {0}\n", rank)), std::string::npos) << err();
  }
  EXPECT_EQ(read_file(dir_ + "/ntrun.out"), "");
  // Per local rank: rank 0 tees both streams, rank 1 (not listed) neither.
  ASSERT_EQ(ntrun({"--standalone", "--nproc_per_node=2", "--log_dir", dir_ + "/logs2", "--run_id",
                   "r2", "--tee", "0:3", worker}),
            0)
      << err();
  EXPECT_EQ(read_file(dir_ + "/logs2/r2/attempt_0/0/stdout.log"), "out 0\n");
  EXPECT_FALSE(fs::exists(dir_ + "/logs2/r2/attempt_0/1/stdout.log"));
  EXPECT_NE(read_file(dir_ + "/ntrun.out").find("[rank 0]: out 0\n"), std::string::npos);
  EXPECT_NE(read_file(dir_ + "/ntrun.out").find("out 1\n"), std::string::npos);
  ASSERT_EQ(ntrun({"--standalone", "--nproc_per_node=1", "--tee", "3", worker}), 0) << err();
  EXPECT_EQ(read_file(dir_ + "/ntrun.out"), "[rank 0]: out 0\n");
}

TEST_F(NtrunTest, LocalRanksFilterKeepsOtherRanksOffTheConsole) {
  const auto worker = script("hi.sh", "echo hi $RANK");
  ASSERT_EQ(ntrun({"--standalone", "--nproc_per_node=3", "--local-ranks-filter=0,2", worker}), 0)
      << err();
  std::string out = read_file(dir_ + "/ntrun.out");
  EXPECT_NE(out.find("hi 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("hi 2\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("hi 1\n"), std::string::npos) << out;
}

TEST_F(NtrunTest, PythonProgramsRunAsUnderTorchrun) {
  std::ofstream(dir_ + "/hello.py") << "import os, sys\nprint('py', os.environ['RANK'], "
                                       "sys.argv[1:])\n";
  ASSERT_EQ(ntrun({"--standalone", "--nproc_per_node=1", dir_ + "/hello.py", "a"}), 0) << err();
  EXPECT_EQ(read_file(dir_ + "/ntrun.out"), "py 0 ['a']\n");
  fs::create_directories(dir_ + "/pkg");
  std::ofstream(dir_ + "/pkg/tool.py") << "import os\nprint('module', os.environ['LOCAL_RANK'])\n";
  ASSERT_EQ(ntrun({"--standalone", "--nproc_per_node=1", "-m", "tool"}, 60,
                  fmt::format("env PYTHONPATH={}/pkg ", dir_)),
            0)
      << err();
  EXPECT_EQ(read_file(dir_ + "/ntrun.out"), "module 0\n");
  // --no_python runs a .py file as a program: without an executable bit, that fails.
  EXPECT_EQ(ntrun({"--standalone", "--nproc_per_node=1", "--no_python", dir_ + "/hello.py"}), 1);
  EXPECT_NE(err().find("cannot execute"), std::string::npos) << err();
}

TEST_F(NtrunTest, ErrorFileNamesTheRootCause) {
  const auto worker = script("record.sh", R"(
[ "$RANK" = 1 ] || exec sleep 60
printf '{"message": {"message": "ValueError: batch %s is empty", "extraInfo": {"py_callstack": "", "timestamp": "0"}}}' 7 > "$TORCHELASTIC_ERROR_FILE"
exit 2)");
  EXPECT_EQ(ntrun({"--standalone", "--nproc_per_node=2", "--shutdown_timeout=5", worker}), 1);
  EXPECT_NE(err().find("message   : ValueError: batch 7 is empty"), std::string::npos) << err();
  EXPECT_NE(err().find("/attempt_0/1/error.json"), std::string::npos) << err();
  // nanotrain writes one too, as torchrun's @record does.
  EXPECT_EQ(
      ntrun({"--standalone", "--nproc_per_node=1", NANOTRAIN_NANOTRAIN, "train", "--bogus_flag=1"}),
      1);
  EXPECT_NE(err().find("message   : std::invalid_argument: unknown flag --bogus_flag"),
            std::string::npos)
      << err();
}

TEST_F(NtrunTest, ElasticRendezvousStartsWithTheNodesThatCame) {
  const auto worker = script("elastic.sh",
                             "echo $GROUP_RANK $GROUP_WORLD_SIZE $WORLD_SIZE > "
                             "$OUT/seen.$RANK");
  const int port = testing::free_port();
  // Two agents within the last call: one world of two nodes, node ranks by arrival.
  const auto agents = start_agents(
      2,
      [&](int) {
        return fmt::format(
            "--nnodes=1:2 --rdzv_backend=c10d --rdzv-endpoint=127.0.0.1:{} --rdzv_id=el "
            "--nproc_per_node=2 --rdzv_conf=join_timeout=60,last_call_timeout=5",
            port);
      },
      worker);
  const auto status = testing::wait_all(agents, 90);
  EXPECT_EQ(status[0], 0) << read_file(dir_ + "/agent0.err");
  EXPECT_EQ(status[1], 0) << read_file(dir_ + "/agent1.err");
  for (int rank = 0; rank < 4; ++rank)
    EXPECT_EQ(read_file(dir_ + "/seen." + std::to_string(rank)), fmt::format("{} 2 4\n", rank / 2))
        << rank;
  // One agent alone: it starts once the last call (1 s) is over.
  fs::remove_all(dir_ + "/seen.0");
  fs::remove_all(dir_ + "/seen.2");
  const int port2 = testing::free_port();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(ntrun({"--nnodes=1:2", "--rdzv_backend=c10d",
                   fmt::format("--rdzv_endpoint=localhost:{}", port2),
                   "--rdzv_conf=last_call_timeout=1", worker}),
            0)
      << err();
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  EXPECT_EQ(read_file(dir_ + "/seen.0"), "0 1 1\n");
}

// A shared --log_dir: a symlink planted under a worker's log name is replaced, not written
// through.
TEST_F(NtrunTest, PlantedLogSymlinkIsNotWrittenThrough) {
  const auto worker = script("say.sh", "echo said $RANK");
  const std::string logs = dir_ + "/logs/planted/attempt_0/0";
  fs::create_directories(logs);
  std::ofstream(dir_ + "/precious") << "precious";
  fs::create_symlink(dir_ + "/precious", logs + "/stdout.log");
  ASSERT_EQ(ntrun({"--standalone", "--nproc_per_node=1", "--log_dir", dir_ + "/logs", "--run_id",
                   "planted", "--redirects", "1", worker}),
            0)
      << err();
  EXPECT_EQ(read_file(dir_ + "/precious"), "precious");
  EXPECT_FALSE(fs::is_symlink(logs + "/stdout.log"));
  EXPECT_EQ(read_file(logs + "/stdout.log"), "said 0\n");
}

// As torchrun's argparse: PET_<FLAG> is the flag's default, and the command line wins.
TEST_F(NtrunTest, PetVariablesAreTheFlagsDefaults) {
  const auto worker = script("who.sh", "echo $RANK/$WORLD_SIZE/$TORCHELASTIC_MAX_RESTARTS");
  const std::string pet = "env PET_NPROC_PER_NODE=3 PET_STANDALONE=1 PET_MAX_RESTARTS=2 ";
  ASSERT_EQ(ntrun({worker}, 60, pet), 0) << err();
  std::string out = read_file(dir_ + "/ntrun.out");
  for (int rank = 0; rank < 3; ++rank)
    EXPECT_NE(out.find(fmt::format("{}/3/2\n", rank)), std::string::npos) << out;
  ASSERT_EQ(ntrun({"--nproc_per_node=2", worker}, 60, pet), 0) << err();
  out = read_file(dir_ + "/ntrun.out");
  EXPECT_NE(out.find("1/2/2\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("/3/"), std::string::npos) << out;
  // A bad value names its variable; PET_* variables ntrun does not take are left alone.
  EXPECT_EQ(ntrun({worker}, 60, "env PET_STANDALONE=1 PET_MAX_RESTARTS=many "), 1);
  EXPECT_NE(err().find("PET_MAX_RESTARTS: flag --max_restarts: expected"), std::string::npos)
      << err();
  ASSERT_EQ(ntrun({worker}, 60, "env PET_STANDALONE=1 PET_START_METHOD=spawn "), 0) << err();
}

TEST_F(NtrunTest, TorchrunFlagsWithBadValuesAreClearErrors) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--tee", "7"}, "--tee: expected 0-3 (1 stdout, 2 stderr, 3 both)"},
      {{"--redirects=0:x"}, "--redirects: expected 0-3"},
      {{"--nnodes=3:2"}, "--nnodes 3:2: MIN is above MAX"},
      {{"--nnodes=1:2"}, "--nnodes MIN:MAX needs --rdzv_backend=c10d"},
      {{"--rdzv_backend=etcd"}, "--rdzv_backend: expected static or c10d, found 'etcd'"},
      {{"--rdzv_conf=bogus=1"}, "--rdzv_conf: unknown key 'bogus'"},
      {{"--rdzv_conf=join_timeout=-1"}, "--rdzv_conf join_timeout: expected a positive number"},
      {{"--rdzv_endpoint=host:99999"}, "--rdzv_endpoint: expected an integer in [1, 65535]"},
      {{"--no_python", "-m", "json.tool"}, "--module cannot go with --no_python"},
      {{"--nproc_per_node=gpu"}, "--nproc_per_node=gpu: no NVIDIA GPU is usable here"},
  };
  for (auto [flags, message] : cases) {
    if (flags.back() != "json.tool") flags.push_back("/bin/true");
    EXPECT_EQ(ntrun(flags, 60, "env CUDA_VISIBLE_DEVICES= "), 1) << flags[0];
    EXPECT_NE(err().find(message), std::string::npos) << err();
  }
}

}  // namespace
}  // namespace nt
