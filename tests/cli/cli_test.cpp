// The checkpoint commands end to end: train saves, `ckpt` lists, inspects, verifies and prunes,
// `loss` agrees with the PyTorch reference on the same checkpoint, `sample` is deterministic.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "checkpoint/step_dir.h"
#include "tests/support/expect_error.h"
#include "tests/support/prepared_data.h"
#include "tests/support/tensor_bundle.h"
#include "cli/commands.h"
#include "trainer/train.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

// Output of a shell command, for running the Python reference.
std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[256];
  while (pipe && fgets(buf, sizeof(buf), pipe)) out += buf;
  if (pipe) pclose(pipe);
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::make_unique<testing::ScopedBaseDir>("cli");
    train(parse_train_config({"--data_dir", testing::prepared_data_dir(), "--depth=1",
                              "--max_seq_len=64", "--device_batch_size=2", "--num_iterations=6",
                              "--save_every=2", "--keep_last=2", "--eval_tokens=512"}));
    dir_ = base_->path() + "/base_checkpoints/d1";
  }
  void TearDown() override { base_.reset(); }

  // Runs a command in-process and returns its exit code; stdout goes to `out`.
  int run(int (*command)(const std::vector<std::string>&), const std::vector<std::string>& args,
          std::string* out = nullptr) {
    ::testing::internal::CaptureStdout();
    int rc = 0;
    try {
      rc = command(args);
    } catch (...) {
      ::testing::internal::GetCapturedStdout();
      throw;
    }
    const std::string text = ::testing::internal::GetCapturedStdout();
    if (out) *out = text;
    return rc;
  }

  std::unique_ptr<testing::ScopedBaseDir> base_;
  std::string dir_;
};

TEST_F(CliTest, TrainSavesPeriodicallyAndKeepsLastTwo) {
  EXPECT_EQ(list_meta_steps(dir_), (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(find_last_step(dir_), 6);
  std::string out;
  EXPECT_EQ(run(ckpt_command, {"list"}, &out), 0);
  EXPECT_NE(out.find("base   d1                      6"), std::string::npos) << out;
  EXPECT_EQ(run(ckpt_command, {"inspect", dir_}, &out), 0);
  EXPECT_NE(out.find("transformer.h.0.mlp.c_fc.weight"), std::string::npos) << out;
  EXPECT_NE(out.find("parameters: "), std::string::npos);
}

TEST_F(CliTest, VerifyFindsDamage) {
  std::string out;
  EXPECT_EQ(run(ckpt_command, {"verify", dir_}, &out), 0);
  EXPECT_NE(out.find("step 6: ok"), std::string::npos);
  {
    std::fstream f(dir_ + "/optim_000004.pt", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  EXPECT_EQ(run(ckpt_command, {"verify", dir_}, &out), 1);
  EXPECT_NE(out.find("step 4: DAMAGED: " + dir_ + "/optim_000004.pt: checksum mismatch"),
            std::string::npos)
      << out;
  EXPECT_EQ(run(ckpt_command, {"verify", dir_, "--step=6"}, &out), 0);
}

TEST_F(CliTest, PruneKeepsNewest) {
  std::ofstream(dir_ + "/model_000009.pt.tmp") << "leftover";
  std::string out;
  EXPECT_EQ(run(ckpt_command, {"prune", dir_, "--keep_last", "1"}, &out), 0);
  EXPECT_NE(out.find("removed leftover model_000009.pt.tmp"), std::string::npos) << out;
  EXPECT_NE(out.find("removed step 4"), std::string::npos) << out;
  EXPECT_EQ(list_meta_steps(dir_), std::vector<int64_t>{6});
  testing::expect_error([&] { run(ckpt_command, {"prune", dir_}); }, "--keep_last K");
  testing::expect_error([&] { run(ckpt_command, {"explode", dir_}); }, "unknown ckpt action");
}

TEST_F(CliTest, LossMatchesPythonReference) {
  const std::string tokens = base_->path() + "/tokens.txt";
  std::ofstream(tokens) << "1 73 110 32 116 104 101 32 98 101 103 105 110 110 105 110 103\n";
  std::string out;
  EXPECT_EQ(run(loss_command, {"--checkpoint_dir", dir_, "--tokens", tokens}, &out), 0);
  const std::string reference =
      run_command("/usr/bin/python3 " + std::string(NANOTRAIN_SOURCE_DIR) +
                  "/tests/reference/loss_reference.py " + dir_ + " 6 " + tokens);
  ASSERT_EQ(out.rfind("loss: ", 0), 0u) << out;
  ASSERT_EQ(reference.rfind("loss: ", 0), 0u) << reference;
  EXPECT_NEAR(std::stod(out.substr(6)), std::stod(reference.substr(6)), 2e-6) << out << reference;

  std::ofstream(tokens) << "1 73 x 32\n";
  testing::expect_error(
      [&] {
        run(loss_command, {"--checkpoint_dir", dir_, "--tokens", tokens});
      },
      "token 2: expected an integer id, found 'x'");
  std::ofstream(tokens) << "1 73 9999\n";
  testing::expect_error(
      [&] {
        run(loss_command, {"--checkpoint_dir", dir_, "--tokens", tokens});
      },
      "tokens.txt: token 2: id 9999 is outside the model's vocabulary [0, 1024)");
}

TEST_F(CliTest, MetricsAndPlot) {
  // The run evaluated at steps 0 and 6 (the last step) and logged every step.
  std::ifstream in(dir_ + "/metrics.jsonl");
  int steps = 0, evals = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    steps += j.contains("loss");
    evals += j.contains("val_bpb");
  }
  EXPECT_EQ(steps, 6);
  EXPECT_EQ(evals, 2);
  std::string out;
  EXPECT_EQ(run(plot_command, {dir_}, &out), 0);
  EXPECT_NE(out.find("(6 steps, 2 evaluations)"), std::string::npos) << out;
  std::ifstream svg(dir_ + "/metrics.svg");
  const std::string text((std::istreambuf_iterator<char>(svg)), {});
  EXPECT_EQ(text.rfind("<svg", 0), 0u);
  EXPECT_NE(text.find("validation bits per byte"), std::string::npos);
  EXPECT_GE(std::count(text.begin(), text.end(), '\n'), 20);
  auto meta = nlohmann::json::parse(std::ifstream(dir_ + "/meta_000006.json"));
  EXPECT_GT(meta["val_bpb"].get<double>(), 0.0);
  EXPECT_EQ(meta["loop_state"]["min_val_bpb"], meta["val_bpb"]);
}

TEST_F(CliTest, SampleIsDeterministicInTheSeed) {
  const std::vector<std::string> args = {"--checkpoint_dir", dir_, "--prompt", "And God said",
                                         "--max_tokens",     "20", "--top_k",  "5",
                                         "--seed",           "3"};
  std::string a, b;
  EXPECT_EQ(run(sample_command, args, &a), 0);
  EXPECT_EQ(run(sample_command, args, &b), 0);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.rfind("And God said", 0), 0u);
  EXPECT_GE(a.size(), std::string("And God said").size() + 20);
}

}  // namespace
}  // namespace nt
