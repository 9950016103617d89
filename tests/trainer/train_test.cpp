// End-to-end: `nanotrain train` on the prepared KJV shards learns (the loss falls within 30 steps),
// and the train config reads files and flags with clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/dir_lock.h"
#include "checkpoint/meta.h"
#include "checkpoint/step_dir.h"
#include "tests/support/expect_error.h"
#include "tests/support/prepared_data.h"
#include "tests/support/tensor_bundle.h"
#include "tests/support/tolerance.h"
#include "trainer/train.h"

namespace nt {
namespace {

using testing::expect_error;

TEST(Train, LossFallsOver30StepsOnKjv) {
  testing::ScopedBaseDir base("train_test");
  TrainConfig cfg =
      parse_train_config({"--data_dir", testing::prepared_data_dir(), "--depth=2",
                          "--max_seq_len=128", "--device_batch_size=8", "--num_iterations=30"});
  const auto result = train(cfg);
  ASSERT_EQ(result.losses.size(), 30u);
  // A fresh model (zero lm_head) predicts uniformly over the vocabulary: ln(1024) = 6.93. Its
  // logits are exactly 0 in any precision; what rounds is the sum of the vocabulary's
  // exponentials and the mean over the step's 1024 tokens.
  const double uniform = std::log(testing::prepared_vocab_size());
  EXPECT_NEAR(result.losses.front(), uniform,
              uniform * testing::summation_order_error(1024 + testing::prepared_vocab_size()));
  const double last5 = std::accumulate(result.losses.end() - 5, result.losses.end(), 0.0) / 5.0;
  EXPECT_LT(last5, 5.0) << "mean loss of the last 5 steps";
  const auto meta = read_meta(base.path() + "/base_checkpoints/d2/meta_000030.json");
  // 30 steps of 1024 tokens from 200,000-token shards: the loader is in its first shard.
  EXPECT_EQ(meta["dataloader_state_dict"]["position"], 30 * 1024);
  EXPECT_EQ(meta["dataloader_state_dict"]["epoch"], 0);
  EXPECT_TRUE(meta["rng_state"]["cpu"].is_string());
}

TEST(Train, GradientAccumulationEqualsOneBigBatch) {
  // 8 sequences in one micro-step, and 4 + 4 accumulated: the same data, the same update, up to
  // the summation order, compared at the precision Muon's Newton-Schulz runs in.
  testing::ScopedBaseDir base("accum_test");
  for (const std::string muon_dtype : {"bfloat16", "float32"}) {
    auto run = [&](const std::string& batch, const std::string& tag) {
      const auto result = train(parse_train_config(
          {"--data_dir", testing::prepared_data_dir(), "--depth=1", "--max_seq_len=32",
           "--device_batch_size", batch, "--total_batch_size=256", "--num_iterations=2",
           "--muon_dtype", muon_dtype, "--model_tag", tag + muon_dtype}));
      return std::make_pair(
          result.losses,
          load_checkpoint(base.path() + "/base_checkpoints/" + tag + muon_dtype, 2, torch::kCPU));
    };
    const auto [losses_one, one] = run("8", "one");
    const auto [losses_two, two] = run("4", "two");
    EXPECT_EQ(one.meta_data.at("user_config").at("muon_dtype"), muon_dtype);
    // 256 tokens of a width-64 model; the losses are means over the same tokens.
    const double grad_error = testing::weight_gradient_error(256, 64);
    for (size_t i = 0; i < 2; ++i)
      EXPECT_NEAR(losses_one[i], losses_two[i], grad_error * losses_one[i]) << muon_dtype;
    const double ns_tolerance = testing::newton_schulz_tolerance(
        muon_dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32, MuonOptions{}.ns_steps,
        grad_error);
    GPT init(model_config_from_meta(one.meta_data, "meta_000002.json"));
    init->init_weights(42);  // the default seed: the weights both runs started from
    for (const auto& item : one.model_data) {
      const auto& w = item.value();
      const auto diff = w - two.model_data.at(item.key());
      if (item.key() == "transformer.wte.weight" || item.key() == "lm_head.weight") {
        // AdamW's second update sees gradients that the first Muon update moved: it differs
        // relatively by as much as that update did.
        const auto update = w - init->named_parameters()[item.key()];
        EXPECT_LT((diff.norm() / update.norm()).item<double>(), ns_tolerance)
            << muon_dtype << " " << item.key();
      } else {
        EXPECT_LT(diff.norm().item<double>(),
                  testing::muon_weight_tolerance(w.size(0), w.size(1), 0.02, 2, ns_tolerance))
            << muon_dtype << " " << item.key();
      }
    }
  }
  testing::expect_error(
      [&] {
        train(parse_train_config({"--data_dir", testing::prepared_data_dir(), "--depth=1",
                                  "--max_seq_len=32", "--device_batch_size=3",
                                  "--total_batch_size=256", "--num_iterations=1"}));
      },
      "total_batch_size 256 is not a multiple of device_batch_size * max_seq_len * world_size");
}

TEST(Train, SecondWriterToTheSameDirectoryIsRefused) {
  testing::ScopedBaseDir base("lock_test");
  const TrainConfig cfg =
      parse_train_config({"--data_dir", testing::prepared_data_dir(), "--depth=1",
                          "--max_seq_len=16", "--num_iterations=1"});
  {
    DirLock held(cfg.checkpoint_dir());  // as a running job would hold it
    testing::expect_error<std::runtime_error>([&] { train(cfg); },
                                              "is in use by another run (pid ");
  }
  EXPECT_EQ(train(cfg).losses.size(), 1u);  // released: the next run proceeds
}

TEST(Train, RollbackNeverLosesTheNewRunsSaves) {
  // A run to step 10 keeps {6, 8, 10}; resuming from 6 (a loss spike) with saves every 3 would
  // see its step 9 pruned at once by the older 8 and 10, and the next auto restart resume the
  // abandoned step 10. So the rollback refuses, deleting nothing, until told --prune_abandoned.
  testing::ScopedBaseDir base("rollback_test");
  auto run = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {
        "--data_dir",       testing::prepared_data_dir(), "--depth=1",
        "--max_seq_len=32", "--device_batch_size=2",      "--eval_every=-1",
        "--keep_last=3",    "--model_tag=rollback",       "--num_iterations=10"};
    args.insert(args.end(), extra.begin(), extra.end());
    train(parse_train_config(args));
  };
  const std::string dir = base.path() + "/base_checkpoints/rollback";
  run({"--save_every=2"});
  EXPECT_EQ(list_meta_steps(dir), (std::vector<int64_t>{6, 8, 10}));
  expect_error<std::runtime_error>(
      [&] {
        run({"--save_every=3", "--resume_from_step=6"});
      },
      "resume_from_step=6 rolls back '" + dir + "', which holds the later steps [8, 10]");
  EXPECT_EQ(list_meta_steps(dir), (std::vector<int64_t>{6, 8, 10}));
  run({"--save_every=3", "--resume_from_step=6", "--prune_abandoned"});
  EXPECT_EQ(list_meta_steps(dir), (std::vector<int64_t>{6, 9, 10}));
  EXPECT_EQ(find_last_step(dir), 10);
  EXPECT_EQ(read_meta(dir + "/meta_000010.json")["user_config"]["save_every"], 3)
      << "step 10 is the new run's";
}

TEST(Train, DataProblemsAreClearErrors) {
  testing::ScopedBaseDir base("no_data_test");
  testing::expect_error<std::runtime_error>(
      [] {
        train(parse_train_config({"--depth=1", "--num_iterations=1"}));
      },
      "base_data' is not a directory (run `nanotrain prepare` to write them)");
  testing::expect_error<std::invalid_argument>(
      [] {
        train(parse_train_config({"--data_dir", testing::prepared_data_dir(), "--depth=1",
                                  "--max_seq_len=1024", "--device_batch_size=64",
                                  "--num_iterations=1"}));
      },
      "fewer than one evaluation batch (device_batch_size 64 * max_seq_len 1024 + 1)");
}

TEST(TrainConfig, ShippedConfigsAreValid) {
  for (const char* name : {"cpu_tiny", "cpu_small", "d12", "d20"}) {
    const auto cfg = parse_train_config(
        {"--config", std::string(NANOTRAIN_SOURCE_DIR) + "/configs/" + name + ".json",
         "--data_dir=x"});
    EXPECT_GT(cfg.depth, 0) << name;
  }
}

TEST(TrainConfig, FileThenFlagsAndErrors) {
  const std::string path =
      ::testing::TempDir() + "/train_config_test_" + std::to_string(::getpid()) + ".json";
  std::ofstream(path) << R"({"data_dir": "d", "depth": 3, "num_iterations": 7})";
  auto cfg = parse_train_config({"--depth=5", "--config", path});
  EXPECT_EQ(cfg.depth, 5);  // flags override the file wherever --config stands
  EXPECT_EQ(cfg.num_iterations, 7);
  EXPECT_EQ(cfg.data_dir, "d");

  std::ofstream(path) << R"({"data_dir": "d", "detph": 3})";
  expect_error([&] { parse_train_config({"--config", path}); }, "unknown key 'detph'");
  std::ofstream(path) << R"({"data_dir": "d",)";
  expect_error([&] { parse_train_config({"--config", path}); }, "invalid JSON");
  expect_error(
      [&] {
        parse_train_config({"--config", "/nonexistent.json"});
      },
      "--config: cannot open '/nonexistent.json'");
  expect_error([] { parse_train_config({"--depth=0"}); },
               "depth: expected a positive integer, found 0");
  expect_error([] { parse_train_config({"--dtype=fp8"}); },
               "dtype: expected float32 or bfloat16, found 'fp8'");
  expect_error([] { parse_train_config({"--muon_dtype=fp16"}); },
               "muon_dtype: expected auto, bfloat16 or float32, found 'fp16'");
  expect_error([] { parse_train_config({"--matrix_lr=-1"}); },
               "matrix_lr: expected a finite non-negative number, found -1");
  expect_error([] { parse_train_config({"--peak_flops=0"}); },
               "peak_flops: expected a positive FLOP/s figure or -1, found 0");
  expect_error([] { parse_train_config({"--resume_from_step=last"}); },
               "resume_from_step: expected -1, auto, a step number or nothing, found 'last'");
  expect_error([] { parse_train_config({"--collective_timeout=0"}); },
               "collective_timeout: expected seconds in [1, 604800], found 0");
  expect_error([] { parse_train_config({"--collective_timeout=nan"}); }, "found nan");
  expect_error([] { parse_train_config({"--on_save_error=ignore"}); },
               "on_save_error: expected stop or continue, found 'ignore'");

  // Wrong types and impossible values in a config file name the file and the key.
  const std::pair<const char*, const char*> bad_files[] = {
      {R"({"depth": "4"})", "key 'depth': expected an integer, found \"4\""},
      {R"({"depth": 4.5})", "key 'depth': expected an integer, found 4.5"},
      {R"({"async_save": 1})", "key 'async_save': expected a boolean, found 1"},
      {R"({"num_iterations": 1e30})", "key 'num_iterations': expected an integer"},
      {R"({"num_iterations": 99999999999999999999})", "key 'num_iterations': expected an integer"},
      {R"({"seed": 18446744073709551615})",
       "key 'seed': value 18446744073709551615 is out of range"},
      {R"({"device_batch_size": -3})", "device_batch_size: expected a positive integer, found -3"},
      {R"({"warmup_ratio": 0.9, "warmdown_ratio": 0.5})",
       "warmup_ratio + warmdown_ratio: expected at most 1, found 1.4"},
      {R"({"keep_last": 0})", "keep_last: expected a positive integer or -1, found 0"},
      {R"({"run": null})", "key 'run': expected a string, found null"},
      {R"([1, 2])", "expected a JSON object, found array"},
      {R"({"target_flops": 1e400})",
       "invalid JSON: [json.exception.out_of_range.406] number overflow"},
  };
  for (const auto& [text, needle] : bad_files) {
    std::ofstream(path) << text;
    expect_error([&] { parse_train_config({"--config", path}); }, needle);
  }
}

}  // namespace
}  // namespace nt
