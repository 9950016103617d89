// The directory of steps: file-name parsing, find_last_step and find_largest_model over
// table-driven directory listings, and retention.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "checkpoint/step_dir.h"
#include "tests/checkpoint/checkpoint_fixture.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

TEST(ParseStepFile, AcceptsOnlyWhatTheStepFileNamesWrite) {
  const std::pair<const char*, int64_t> model_cases[] = {
      {"model_000042.pt", 42},
      {"model_000000.pt", 0},
      {"model_1234567.pt", 1234567},
      {"model_0000001.pt", -1},
      {"model_-00001.pt", -1},
      {"model_abc.pt", -1},
      {"model_42.pt", -1},
      {"model_000042.pt.tmp", -1},
      {"model_.pt", -1},
      {"model_000042.json", -1},
      {"model_99999999999999999999.pt", -1},
      {"model000042.pt", -1},
  };
  for (const auto& [name, step] : model_cases) {
    const auto file = parse_step_file(name);
    EXPECT_EQ(file ? file->step : -1, step) << name;
    if (file) {
      EXPECT_EQ(file->kind, StepFileKind::kModel) << name;
    }
  }
  // Every kind round-trips through the name functions; near misses are not steps.
  for (int64_t step : {0, 42, 1234567}) {
    EXPECT_EQ(parse_step_file(optim_file_name(step))->kind, StepFileKind::kOptim);
    EXPECT_EQ(parse_step_file(meta_file_name(step))->step, step);
    const auto rank_file = parse_step_file(rank_optim_file_name(step, 12));
    ASSERT_TRUE(rank_file);
    EXPECT_EQ(rank_file->kind, StepFileKind::kRankOptim);
    EXPECT_EQ(rank_file->step, step);
    EXPECT_EQ(rank_file->rank, 12);
  }
  for (const char* name :
       {"optim_000042_rank01.pt", "optim_000042_rankx.pt", "optim_000042_rank.pt",
        "optim_000042_rank1.json", "meta_000042.pt", "optim_000042_rank1234567890.pt",
        "opt_000042.pt", "meta_000042.json.tmp"})
    EXPECT_FALSE(parse_step_file(name)) << name;
}

TEST_F(CheckpointTest, FindLastStepIgnoresJunkAndIncompleteSteps) {
  save_trained_step(10);
  save_checkpoint(dir_, 30, model_state_dict(model_), std::nullopt, meta_for(model_));
  // Junk and half-written steps beside the real ones.
  for (const char* junk :
       {"model_abc.pt", "model_-1.pt", "model_0000001.pt", "meta_0000099.json", "meta_abc.json",
        "model_000050.pt", "optim_000060.pt", "notes.txt", "meta_000040.json.tmp",
        "optim_000090_rank1.pt", "optim_000090_rank2.pt.tmp", "optim_000090_rank01.pt",
        "optim_000090_rankx.pt"})
    std::ofstream(dir_ + "/" + junk) << "junk";
  std::ofstream(dir_ + "/meta_000070.json") << R"({"step": 70, "model_config": {}, "files": {}})";
  fs::create_directories(dir_ + "/meta_000080.json");  // a directory, not a file
  EXPECT_EQ(find_last_step(dir_), 30);
  fs::remove(dir_ + "/model_000030.pt");
  EXPECT_EQ(find_last_step(dir_), 10);

  const auto removed = remove_incomplete_steps(dir_);
  EXPECT_TRUE(fs::exists(dir_ + "/model_abc.pt"));  // not ours: left alone
  EXPECT_FALSE(fs::exists(dir_ + "/meta_000030.json"));
  EXPECT_FALSE(fs::exists(dir_ + "/model_000050.pt"));
  EXPECT_FALSE(fs::exists(dir_ + "/meta_000040.json.tmp"));
  // A killed sharded save's shards and temporary files, with no model or meta of their step.
  EXPECT_FALSE(fs::exists(dir_ + "/optim_000090_rank1.pt"));
  EXPECT_FALSE(fs::exists(dir_ + "/optim_000090_rank2.pt.tmp"));
  EXPECT_TRUE(fs::exists(dir_ + "/optim_000090_rank01.pt"));  // not a name nanotrain writes
  EXPECT_TRUE(fs::exists(dir_ + "/optim_000090_rankx.pt"));
  EXPECT_TRUE(fs::exists(dir_ + "/model_000010.pt"));
  EXPECT_EQ(find_last_step(dir_), 10);
}

TEST_F(CheckpointTest, FindLargestModelPrefersDepthThenNewest) {
  struct Case {
    std::vector<std::string> tags;
    std::string expected;
  } cases[] = {
      {{"d4", "d12", "d8"}, "d12"},
      {{"d2_run", "d20x", "d3"}, "d20x"},
      {{"alpha", "beta"}, "beta"},  // no d<N>: newest by modification time
      {{"dx", "d", "gamma"}, "gamma"},
  };
  for (const auto& c : cases) {
    fs::remove_all(dir_);
    for (const auto& tag : c.tags) {
      fs::create_directories(dir_ + "/" + tag);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::ofstream(dir_ + "/d99") << "a file, not a model directory";
    EXPECT_EQ(find_largest_model(dir_), c.expected);
  }
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  expect_runtime_error([&] { find_largest_model(dir_); }, "no model directories in");
}

TEST_F(CheckpointTest, PruneKeepsLastKAndEveryNth) {
  for (int64_t step : {100, 200, 300, 400, 500, 600})
    save_checkpoint(dir_, step, model_state_dict(model_), std::nullopt, meta_for(model_));
  EXPECT_TRUE(prune_checkpoints(dir_, -1).empty());
  EXPECT_EQ(prune_checkpoints(dir_, 2, 300), (std::vector<int64_t>{100, 200, 400}));
  EXPECT_EQ(list_meta_steps(dir_), (std::vector<int64_t>{300, 500, 600}));
  EXPECT_EQ(prune_checkpoints(dir_, 0), (std::vector<int64_t>{300, 500}));
  EXPECT_EQ(find_last_step(dir_), 600);  // the newest complete step always stays
  EXPECT_FALSE(fs::exists(dir_ + "/model_000500.pt"));
}

}  // namespace
}  // namespace nt
