// End-to-end: `nanotrain train` on the KJV text learns (the loss falls within 30 steps), and the
// train config reads files and flags with clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "checkpoint/dir_lock.h"
#include "launch/train.h"
#include "tests/support/expect_error.h"
#include "tests/support/tensor_bundle.h"

namespace nt {
namespace {

using testing::expect_error;

TEST(Train, LossFallsOver30StepsOnKjv) {
  const std::string base = ::testing::TempDir() + "/nanotrain_train_test";
  setenv("NANOTRAIN_BASE_DIR", base.c_str(), 1);
  TrainConfig cfg =
      parse_train_config({"--input", testing::test_data_dir() + "/kjv.txt", "--depth=2",
                          "--max_seq_len=128", "--device_batch_size=8", "--num_iterations=30"});
  const auto result = train(cfg);
  ASSERT_EQ(result.losses.size(), 30u);
  // A fresh model predicts uniformly over 257 byte tokens: ln(257) = 5.55.
  EXPECT_NEAR(result.losses.front(), std::log(257.0), 0.01);
  const double last5 = std::accumulate(result.losses.end() - 5, result.losses.end(), 0.0) / 5.0;
  EXPECT_LT(last5, 3.0) << "mean loss of the last 5 steps";
  EXPECT_TRUE(std::filesystem::exists(base + "/base_checkpoints/d2/meta_000030.json"));
  std::filesystem::remove_all(base);
  unsetenv("NANOTRAIN_BASE_DIR");
}

TEST(Train, SecondWriterToTheSameDirectoryIsRefused) {
  const std::string base = ::testing::TempDir() + "/nanotrain_lock_test";
  setenv("NANOTRAIN_BASE_DIR", base.c_str(), 1);
  const TrainConfig cfg =
      parse_train_config({"--input", testing::test_data_dir() + "/kjv.txt", "--depth=1",
                          "--max_seq_len=16", "--num_iterations=1"});
  {
    DirLock held(cfg.checkpoint_dir());  // as a running job would hold it
    testing::expect_error<std::runtime_error>([&] { train(cfg); },
                                              "is in use by another run (pid ");
  }
  EXPECT_EQ(train(cfg).losses.size(), 1u);  // released: the next run proceeds
  std::filesystem::remove_all(base);
  unsetenv("NANOTRAIN_BASE_DIR");
}

TEST(TrainConfig, FileThenFlagsAndErrors) {
  const std::string path = ::testing::TempDir() + "/train_config_test.json";
  std::ofstream(path) << R"({"input": "a.txt", "depth": 3, "num_iterations": 7})";
  auto cfg = parse_train_config({"--depth=5", "--config", path});
  EXPECT_EQ(cfg.depth, 5);  // flags override the file wherever --config stands
  EXPECT_EQ(cfg.num_iterations, 7);
  EXPECT_EQ(cfg.input, "a.txt");

  std::ofstream(path) << R"({"input": "a.txt", "detph": 3})";
  expect_error([&] { parse_train_config({"--config", path}); }, "unknown key 'detph'");
  std::ofstream(path) << R"({"input": "a.txt",)";
  expect_error([&] { parse_train_config({"--config", path}); }, "invalid JSON");
  expect_error(
      [&] {
        parse_train_config({"--config", "/nonexistent.json"});
      },
      "--config: cannot open '/nonexistent.json'");
  expect_error(
      [] {
        parse_train_config({"--input=a", "--depth=0"});
      },
      "depth: expected a positive integer, found 0");
  expect_error(
      [] {
        parse_train_config({"--input=a", "--dtype=fp8"});
      },
      "dtype: expected float32 or bfloat16, found 'fp8'");
  expect_error(
      [] {
        parse_train_config({"--input=a", "--matrix_lr=-1"});
      },
      "matrix_lr: expected a finite non-negative number, found -1");
  expect_error([] { parse_train_config({"--depth=2"}); }, "input: expected a text file");
  expect_error(
      [] {
        parse_train_config({"--input=a", "--resume_from_step=last"});
      },
      "resume_from_step: expected -1, auto or a step number, found 'last'");
}

}  // namespace
}  // namespace nt
