// save_checkpoint / load_checkpoint / build_model round trips, Python reading the files, and
// the errors for damaged or mismatched checkpoints.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/meta.h"
#include "checkpoint/step_dir.h"
#include "optim/setup.h"
#include "tests/checkpoint/checkpoint_fixture.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

TEST_F(CheckpointTest, RoundTripRestoresModelOptimizerAndMeta) {
  const auto saved = save_trained_step(5);
  auto data = load_checkpoint(dir_, 5, torch::kCPU, /*load_optimizer=*/true);
  EXPECT_EQ(data.meta_data["step"], 5);
  EXPECT_EQ(data.meta_data["user_config"]["note"], "round trip");
  EXPECT_EQ(data.meta_data["format_version"], 1);
  EXPECT_EQ(data.meta_data["world_size"], 1);
  EXPECT_EQ(data.meta_data["files"].size(), 2u);
  for (const auto& item : model_state_dict(model_))
    EXPECT_TRUE(torch::equal(item.value(), data.model_data.at(item.key()))) << item.key();

  GPT other = make_model(99);
  Optimizers opt = setup_optimizers(other, OptimizerConfig{});
  ASSERT_TRUE(data.optimizer_data.has_value());
  opt.load_state_dicts(*data.optimizer_data, "test");
  const auto a = optimizers_->state_dicts().get(1).toGenericDict().at("state").toGenericDict();
  const auto b = opt.state_dicts().get(1).toGenericDict().at("state").toGenericDict();
  EXPECT_TRUE(torch::equal(a.at(int64_t{3}).toGenericDict().at("momentum_buffer").toTensor(),
                           b.at(int64_t{3}).toGenericDict().at("momentum_buffer").toTensor()));
}

TEST_F(CheckpointTest, PythonTorchLoadReadsEveryFile) {
  save_trained_step(7);
  const std::string cmd = "/usr/bin/python3 " + std::string(NANOTRAIN_SOURCE_DIR) +
                          "/tests/reference/check_checkpoint.py " + dir_ + " 7";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST_F(CheckpointTest, BuildModelGivesTheSameLogits) {
  save_trained_step(3);
  auto built = build_model(dir_, 3, torch::kCPU, "eval");
  EXPECT_FALSE(built.model->is_training());
  EXPECT_EQ(built.tokenizer->vocab_size(), testing::prepared_vocab_size());
  auto idx = torch::randint(0, testing::prepared_vocab_size(), {2, 16}, torch::kInt64);
  EXPECT_TRUE(torch::equal(built.model->forward(idx), model_->forward(idx)));
  EXPECT_TRUE(build_model(dir_, 3, torch::kCPU, "train").model->is_training());
  expect_runtime_error([&] { build_model(dir_, 3, torch::kCPU, "infer"); },
                       "phase must be 'train' or 'eval', found 'infer'");
}

TEST_F(CheckpointTest, BuildModelStripsOrigModPrefixAndConvertsBf16) {
  ModelData data;
  for (const auto& item : model_state_dict(model_))
    data.insert("_orig_mod." + item.key(), item.value().to(torch::kBFloat16));
  save_checkpoint(dir_, 1, data, std::nullopt, meta_for(model_));
  auto built = build_model(dir_, 1, torch::kCPU, "eval");
  for (const auto& item : built.model->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(
        item.value(),
        model_state_dict(model_).at(item.key()).to(torch::kBFloat16).to(torch::kFloat32)));
  }
}

TEST_F(CheckpointTest, BuildModelListsEveryMismatch) {
  ModelData data = model_state_dict(model_);
  ASSERT_EQ(data.erase("lm_head.weight"), 1u);
  data.insert("extra.weight", torch::zeros({2}));
  data.insert_or_assign("transformer.h.0.mlp.c_fc.weight", torch::zeros({3, 3}));
  save_checkpoint(dir_, 2, data, std::nullopt, meta_for(model_));
  expect_runtime_error([&] { build_model(dir_, 2, torch::kCPU, "eval"); },
                       "missing [lm_head.weight], unexpected [extra.weight], mis-shaped "
                       "[transformer.h.0.mlp.c_fc.weight (expected [512, 128], found [3, 3])]");
}

TEST_F(CheckpointTest, OnlyRankZeroSaves) {
  // The rank the caller is told, never the environment's: under srun and mpirun RANK is unset.
  setenv("RANK", "0", 1);
  try {
    save_checkpoint(dir_, 1, model_state_dict(model_), std::nullopt, meta_for(model_), 3);
    ADD_FAILURE() << "expected an error";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 3: save_checkpoint called on rank 3"),
              std::string::npos);
  }
  unsetenv("RANK");
  EXPECT_FALSE(fs::exists(dir_ + "/" + model_file_name(1)));
  // The world size recorded is the caller's too, not the environment's nor a meta key's: the
  // commit record is written by commit_step alone.
  setenv("WORLD_SIZE", "5", 1);
  auto meta = meta_for(model_);
  meta["world_size"] = 7;
  save_checkpoint(dir_, 1, model_state_dict(model_), std::nullopt, meta, 0, /*world_size=*/2);
  unsetenv("WORLD_SIZE");
  EXPECT_EQ(read_meta(dir_ + "/" + meta_file_name(1))["world_size"], 2);
}

TEST_F(CheckpointTest, ResavingAStepReplacesIt) {
  save_trained_step(4);
  train_steps(1);
  save_checkpoint(dir_, 4, model_state_dict(model_), optimizers_->state_dicts(), meta_for(model_));
  auto data = load_checkpoint(dir_, 4, torch::kCPU);
  EXPECT_TRUE(torch::equal(data.model_data.at("lm_head.weight"), model_->lm_head->weight));
}

TEST_F(CheckpointTest, LoadModelFindsTagAndStep) {
  const std::string base = base_->path();
  for (const char* tag : {"d2", "d10", "zzz"}) {
    save_checkpoint(base + "/base_checkpoints/" + std::string(tag), 8, model_state_dict(model_),
                    std::nullopt, meta_for(model_));
  }
  save_checkpoint(base + "/base_checkpoints/d10", 12, model_state_dict(model_), std::nullopt,
                  meta_for(model_));
  auto built = load_model("base", torch::kCPU, "eval");
  EXPECT_EQ(built.meta_data["step"], 12);
  EXPECT_EQ(load_model("base", torch::kCPU, "eval", "d2").meta_data["step"], 8);
  EXPECT_EQ(load_model("base", torch::kCPU, "eval", "d10", 8).meta_data["step"], 8);
  try {
    load_model("chat", torch::kCPU, "eval");
    ADD_FAILURE() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("expected one of base, mid, sft, rl"), std::string::npos);
  }
}

}  // namespace
}  // namespace nt
