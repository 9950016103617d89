// Shared set-up for checkpoint tests: a fresh directory, a small trained model with optimizer
// state, and helpers to save a step and to check error messages.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "checkpoint/checkpoint_manager.h"
#include "optim/setup.h"
#include "runtime/config_io.h"
#include "tests/support/expect_error.h"
#include "tests/support/prepared_data.h"

namespace nt {

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = ::testing::TempDir() + "/nanotrain_" + info->test_suite_name() + "_" + info->name() +
           "_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    base_ = std::make_unique<testing::ScopedBaseDir>("ckpt");
    model_ = make_model(1);
    optimizers_ = std::make_unique<Optimizers>(setup_optimizers(model_, OptimizerConfig{}));
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    base_.reset();
  }

  static GPT make_model(uint64_t seed) {
    GPT model(GPTConfig::from_depth(2, 32, testing::prepared_vocab_size()));
    model->init_weights(seed);
    return model;
  }

  // Real optimizer steps on random tokens, so every state tensor is populated.
  void train_steps(int n) {
    for (int i = 0; i < n; ++i) {
      auto idx = torch::randint(0, testing::prepared_vocab_size(), {2, 16}, torch::kInt64);
      model_->forward(idx, idx).backward();
      optimizers_->step();
      optimizers_->zero_grad();
    }
  }

  static nlohmann::json meta_for(const GPT& model) {
    return {{"model_config", config_to_json(model->config())},
            {"user_config", {{"note", "round trip"}}}};
  }

  ModelData save_trained_step(int64_t step) {
    train_steps(2);
    auto data = model_state_dict(model_);
    save_checkpoint(dir_, step, data, optimizers_->state_dicts(), meta_for(model_));
    return data;
  }

  template <typename Fn>
  static void expect_runtime_error(Fn fn, const std::string& needle) {
    testing::expect_error<std::exception>(fn, needle);
  }

  std::string dir_;
  std::unique_ptr<testing::ScopedBaseDir> base_;  // NANOTRAIN_BASE_DIR, for get_tokenizer
  GPT model_{nullptr};
  std::unique_ptr<Optimizers> optimizers_;
};

}  // namespace nt
