// A save killed with SIGKILL at each point of the protocol, and a save that runs out of file
// space, never leave a step that looks complete and never harm the previous step.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "checkpoint/step_dir.h"
#include "tests/checkpoint/checkpoint_fixture.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

class CrashSafetyTest : public CheckpointTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void expect_step_one_intact() {
    auto data = load_checkpoint(dir_, 1, torch::kCPU, /*load_optimizer=*/true, /*verify=*/true);
    EXPECT_TRUE(torch::equal(data.model_data.at("lm_head.weight"), step_one_.at("lm_head.weight")));
  }
  ModelData step_one_;
};

TEST_P(CrashSafetyTest, KilledSaveLeavesPreviousStepLast) {
  step_one_ = save_trained_step(1);
  step_one_ = load_checkpoint(dir_, 1, torch::kCPU).model_data;
  train_steps(1);
  const auto model_data = model_state_dict(model_);
  const auto optimizer_data = optimizers_->state_dicts();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    setenv("NANOTRAIN_TEST_CRASH_AT", GetParam(), 1);
    save_checkpoint(dir_, 2, model_data, optimizer_data, meta_for(model_));
    _exit(0);  // reached only if the crash point was not hit
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the save was not killed at " << GetParam();
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  // Past the meta rename the step is complete; only its durability was still pending.
  const bool committed = std::string(GetParam()) == "before_dir_fsync";
  EXPECT_EQ(find_last_step(dir_), committed ? 2 : 1);
  expect_step_one_intact();
  // The next save (or ckpt prune) clears what the killed one left.
  remove_incomplete_steps(dir_);
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
    if (!committed) {
      EXPECT_EQ(name.find("000002"), std::string::npos) << name;
    }
  }
  EXPECT_EQ(find_last_step(dir_), committed ? 2 : 1);
  expect_step_one_intact();
}

INSTANTIATE_TEST_SUITE_P(EveryPoint, CrashSafetyTest,
                         ::testing::Values("before_first_rename", "between_files", "before_meta",
                                           "before_dir_fsync"));

TEST_F(CheckpointTest, SaveThatRunsOutOfSpaceFailsCleanly) {
  save_trained_step(1);
  train_steps(1);
  // A file-size limit below the model file's size: writes fail with EFBIG, as a full disk fails
  // with ENOSPC, partway through the first file.
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = 100000;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  std::string error;
  try {
    save_checkpoint(dir_, 2, model_state_dict(model_), optimizers_->state_dicts(),
                    meta_for(model_));
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_handler);
  EXPECT_NE(error.find("cannot write '" + dir_ + "/model_000002.pt.tmp': File too large"),
            std::string::npos)
      << error;
  EXPECT_EQ(find_last_step(dir_), 1);
  EXPECT_FALSE(fs::exists(dir_ + "/model_000002.pt.tmp"));
  EXPECT_FALSE(fs::exists(dir_ + "/model_000002.pt"));
  load_checkpoint(dir_, 1, torch::kCPU, true, true);
}

}  // namespace
}  // namespace nt
