// End-to-end: `nanotrain train` on the KJV text learns (the loss falls within 30 steps), and the
// train config reads files and flags with clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "checkpoint/checkpoint_manager.h"
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

TEST(Train, GradientAccumulationEqualsOneBigBatch) {
  // 8 sequences in one micro-step, and 4 + 4 accumulated: the same data, the same update.
  const std::string base = ::testing::TempDir() + "/nanotrain_accum_test";
  setenv("NANOTRAIN_BASE_DIR", base.c_str(), 1);
  auto run = [&](const std::string& batch, const std::string& tag) {
    const auto result = train(
        parse_train_config({"--input", testing::test_data_dir() + "/kjv.txt", "--depth=1",
                            "--max_seq_len=32", "--device_batch_size", batch,
                            "--total_batch_size=256", "--num_iterations=2", "--model_tag", tag}));
    return std::make_pair(result.losses,
                          load_checkpoint(base + "/base_checkpoints/" + tag, 2, torch::kCPU));
  };
  const auto [losses_one, one] = run("8", "one");
  const auto [losses_two, two] = run("4", "two");
  for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(losses_one[i], losses_two[i], 1e-6);
  for (const auto& item : one.model_data) {
    const double diff = (item.value() - two.model_data.at(item.key())).abs().max().item<double>();
    EXPECT_LT(diff, 1e-6) << item.key();
  }
  testing::expect_error(
      [&] {
        train(parse_train_config({"--input", testing::test_data_dir() + "/kjv.txt", "--depth=1",
                                  "--max_seq_len=32", "--device_batch_size=3",
                                  "--total_batch_size=256", "--num_iterations=1"}));
      },
      "total_batch_size 256 is not a multiple of device_batch_size * max_seq_len * world_size");
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

TEST(TrainConfig, ShippedConfigsAreValid) {
  for (const char* name : {"cpu_tiny", "cpu_small", "d12", "d20"}) {
    const auto cfg = parse_train_config(
        {"--config", std::string(NANOTRAIN_SOURCE_DIR) + "/configs/" + name + ".json",
         "--input=x.txt"});
    EXPECT_GT(cfg.depth, 0) << name;
  }
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
