// A checkpoint directory as Python's nanochat writes it (tests/reference/make_torch_fixtures.py):
// found, built and scored as Python scores it, and resumed to the same next step as Python's.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/meta.h"
#include "checkpoint/step_dir.h"
#include "optim/setup.h"
#include "tests/support/expect_error.h"
#include "tests/support/prepared_data.h"
#include "tests/support/same_ivalue.h"
#include "tests/support/tensor_bundle.h"
#include "tests/support/tolerance.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

std::string fixtures() {
  return testing::test_data_dir() + "/torch_files";
}

class NanochatCheckpoint : public ::testing::Test {
 protected:
  // A copy the test may change, and the tokenizer build_model wants.
  std::string copy_of_fixture() {
    const std::string dir = work_.path() + "/d2";
    fs::copy(nanochat_dir_, dir, fs::copy_options::recursive);
    return dir;
  }

  const std::string nanochat_dir_ = fixtures() + "/nanochat/d2";
  // Step 5 again, its optimizer state in the files of a two-rank nanochat run.
  const std::string ranks_dir_ = fixtures() + "/nanochat_ranks/d2";
  testing::ScopedBaseDir base_{"nanochat"};
  testing::ScopedTempDir work_{"nanochat_work"};
  const testing::TensorBundle expected_{fixtures() + "/nanochat_expected.safetensors"};
};

TEST_F(NanochatCheckpoint, StepsWithoutCommitRecordCountWhenTheModelFileExists) {
  EXPECT_FALSE(has_commit_record(read_meta(nanochat_dir_ + "/meta_000005.json")));
  EXPECT_EQ(find_last_step(nanochat_dir_), 5);
  EXPECT_TRUE(is_complete_step(nanochat_dir_, 3));
  EXPECT_EQ(list_rank_optim_files(nanochat_dir_, 5), std::vector<int64_t>{0});
  const std::string dir = copy_of_fixture();
  fs::remove(dir + "/model_000005.pt");
  EXPECT_EQ(find_last_step(dir), 3);
}

TEST_F(NanochatCheckpoint, MetaWithFormatVersionStillNeedsFiles) {
  const std::string dir = copy_of_fixture();
  auto meta = read_meta(dir + "/meta_000005.json");
  meta["format_version"] = kMetaFormatVersion;
  std::ofstream(dir + "/meta_000005.json") << meta.dump();
  testing::expect_error<std::runtime_error>([&] { read_meta(dir + "/meta_000005.json"); },
                                            "missing key 'files'");
  EXPECT_EQ(find_last_step(dir), 3);
}

TEST_F(NanochatCheckpoint, BuiltModelScoresAsPythonDoes) {
  std::ifstream in(fixtures() + "/nanochat_tokens.txt");
  std::vector<int64_t> ids{std::istream_iterator<int64_t>(in), std::istream_iterator<int64_t>()};
  ASSERT_EQ(ids.size(), 24u);
  const auto tokens = torch::tensor(ids).view({1, -1});
  // Through load_model_from_dir: the tag (d2) and the step (5) are found as nanochat finds them.
  BuiltModel built = load_model_from_dir(fixtures() + "/nanochat", torch::kCPU, "eval");
  EXPECT_EQ(built.meta_data.at("step"), 5);
  EXPECT_EQ(built.model->config().n_kv_head, 1);
  torch::NoGradGuard no_grad;
  const double loss =
      built.model->forward(tokens.narrow(1, 0, 23), tokens.narrow(1, 1, 23)).item<double>();
  // An fp32 forward (the bf16 weights became fp32 exactly), summed in another order.
  EXPECT_NEAR(loss, expected_.at("eval_loss").item<double>(),
              testing::loss_error(loss, 23, built.model->config().n_embd));
  // The bfloat16 embedding became the fp32 master exactly.
  const auto wte = built.model->named_parameters()["transformer.wte.weight"];
  EXPECT_EQ(wte.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(wte, wte.to(torch::kBFloat16).to(torch::kFloat32)));
}

// One training step from step 5, with or without the optimizer state of the files, with Muon's
// Newton-Schulz in `muon_dtype`. Returns, per parameter, how far its update is from Python's
// (`prefix`: "final." in bfloat16, "final_fp32." in float32), relative to the size of Python's
// update.
std::map<std::string, double> update_errors(const std::string& dir,
                                            const testing::TensorBundle& expected,
                                            bool restore_optimizer, const std::string& muon_dtype,
                                            const std::string& prefix) {
  CheckpointData data = load_checkpoint(dir, 5, torch::kCPU, /*load_optimizer=*/true);
  GPT model(model_config_from_meta(data.meta_data, "meta_000005.json"));
  load_model_data(model, std::move(data.model_data), parameter_shapes(model), torch::kCPU,
                  "model_000005.pt");
  OptimizerConfig config;
  config.muon_dtype = muon_dtype;
  Optimizers optimizers = setup_optimizers(model, config);
  if (restore_optimizer && data.optimizer_data)
    optimizers.load_state_dicts(*data.optimizer_data, "optim_000005_rank0.pt");
  else if (restore_optimizer)
    optimizers.load_state_dict_shards(data.optimizer_shards, "optim_000005_rank*.pt");
  optimizers.set_schedule(1.0, 0.85);
  std::map<std::string, torch::Tensor> before;
  for (const auto& item : model->named_parameters()) before[item.key()] = item.value().clone();
  auto loss = model->forward(expected.at("resume.idx"), expected.at("resume.targets"));
  EXPECT_NEAR(loss.item<double>(), expected.at("resume.loss").item<double>(),
              testing::loss_error(loss.item<double>(), expected.at("resume.idx").numel(),
                                  model->config().n_embd));
  loss.backward();
  optimizers.step();
  std::map<std::string, double> errors;
  for (const auto& item : model->named_parameters()) {
    const auto want = expected.at(prefix + item.key()) - before[item.key()];
    const auto got = item.value().detach() - before[item.key()];
    errors[item.key()] = ((got - want).norm() / want.norm()).item<double>();
  }
  return errors;
}

// C++ and Python sum the forward and backward passes in different orders, so gradients differ
// (testing::weight_gradient_error); Muon's Newton-Schulz carries that into its own precision
// (tests/support/tolerance.h). AdamW's update, elementwise in float32, stays within the same bound.
void expect_resumed_step_matches(const std::string& dir, const testing::TensorBundle& expected,
                                 torch::ScalarType dtype) {
  const std::string name = dtype == torch::kBFloat16 ? "bfloat16" : "float32";
  const std::string prefix = dtype == torch::kBFloat16 ? "final." : "final_fp32.";
  const int64_t n_embd =
      read_meta(dir + "/meta_000005.json").at("model_config").at("n_embd").get<int64_t>();
  const double bound = testing::newton_schulz_tolerance(
      dtype, MuonOptions{}.ns_steps,
      testing::weight_gradient_error(expected.at("resume.idx").numel(), n_embd));
  for (const auto& [param, error] : update_errors(dir, expected, true, name, prefix))
    EXPECT_LT(error, bound) << name << " " << param;
  // Without the saved state the same step is far off: the comparison can tell.
  double worst = 0.0;
  for (const auto& [param, error] : update_errors(dir, expected, false, name, prefix))
    worst = std::max(worst, error);
  EXPECT_GT(worst, std::max(0.5, 2 * bound)) << name;
}

TEST_F(NanochatCheckpoint, ResumedStepMatchesPythonsNextStepWithNewtonSchulzInBfloat16) {
  expect_resumed_step_matches(nanochat_dir_, expected_, torch::kBFloat16);
}

TEST_F(NanochatCheckpoint, ResumedStepMatchesPythonsNextStepWithNewtonSchulzInFloat32) {
  expect_resumed_step_matches(nanochat_dir_, expected_, torch::kFloat32);
}

// Python splits the single-process state as nanochat's DistAdamW and DistMuon hold it on two ranks
// (AdamW rows per rank; Muon by shape, each matrix on one rank): merged, it is that state again.
TEST_F(NanochatCheckpoint, RankFilesOfATwoRankRunMergeIntoTheSingleProcessState) {
  CheckpointData ranks = load_checkpoint(ranks_dir_, 5, torch::kCPU, /*load_optimizer=*/true);
  EXPECT_FALSE(ranks.optimizer_data.has_value());
  ASSERT_EQ(ranks.optimizer_shards.size(), 2u);
  CheckpointData single = load_checkpoint(nanochat_dir_, 5, torch::kCPU, /*load_optimizer=*/true);
  ASSERT_TRUE(single.optimizer_data.has_value());
  GPT model(model_config_from_meta(single.meta_data, "meta_000005.json"));
  Optimizers from_ranks = setup_optimizers(model, OptimizerConfig{});
  Optimizers from_single = setup_optimizers(model, OptimizerConfig{});
  from_ranks.load_state_dict_shards(ranks.optimizer_shards, "optim_000005_rank*.pt");
  from_single.load_state_dicts(*single.optimizer_data, "optim_000005_rank0.pt");
  EXPECT_TRUE(testing::same_ivalue(from_ranks.state_dicts(), from_single.state_dicts()));
  // Before loading, the two differ: the comparison can tell.
  EXPECT_FALSE(testing::same_ivalue(setup_optimizers(model, OptimizerConfig{}).state_dicts(),
                                    from_single.state_dicts()));
}

TEST_F(NanochatCheckpoint, ResumedStepFromRankFilesMatchesPythonsNextStep) {
  expect_resumed_step_matches(ranks_dir_, expected_, torch::kFloat32);
}

TEST_F(NanochatCheckpoint, RankFilesMissingARankAreNamed) {
  const std::string dir = work_.path() + "/ranks";
  fs::copy(ranks_dir_, dir, fs::copy_options::recursive);
  fs::rename(dir + "/optim_000005_rank1.pt", dir + "/optim_000005_rank2.pt");
  testing::expect_error<std::runtime_error>(
      [&] { load_checkpoint(dir, 5, torch::kCPU, true); },
      dir +
          ": step 5 has optimizer files of ranks [0, 2]; expected ranks 0 to 2, "
          "optim_000005_rank1.pt missing");
  // Rank 0's file alone: half of every AdamW state's rows.
  fs::remove(dir + "/optim_000005_rank2.pt");
  CheckpointData data = load_checkpoint(dir, 5, torch::kCPU, true);
  GPT model(model_config_from_meta(data.meta_data, "meta_000005.json"));
  Optimizers optimizers = setup_optimizers(model, OptimizerConfig{});
  testing::expect_error<std::invalid_argument>(
      [&] { optimizers.load_state_dict_shards(data.optimizer_shards, "optim_000005_rank*.pt"); },
      "optim_000005_rank*.pt[0] (DistAdamW): parameter 0: the 'exp_avg' rows of 1 ranks add up "
      "to");
}

TEST_F(NanochatCheckpoint, OptimizerListFileLoads) {
  CheckpointData data = load_checkpoint(nanochat_dir_, 3, torch::kCPU, /*load_optimizer=*/true);
  GPT model(model_config_from_meta(data.meta_data, "meta_000003.json"));
  Optimizers optimizers = setup_optimizers(model, OptimizerConfig{});
  optimizers.load_state_dicts(*data.optimizer_data, "optim_000003.pt");
  const auto adamw = data.optimizer_data->toListRef()[0].toGenericDict();
  EXPECT_EQ(adamw.at("state").toGenericDict().size(), 2u);  // lm_head and wte
}

TEST_F(NanochatCheckpoint, ShardedOrMissingOptimizerStateIsAnError) {
  const std::string dir = copy_of_fixture();
  fs::copy_file(dir + "/optim_000005_rank0.pt", dir + "/optim_000005_rank1.pt");
  testing::expect_error<std::runtime_error>(
      [&] { load_checkpoint(dir, 5, torch::kCPU, true); },
      dir +
          "/optim_000005_rank0.pt: expected [DistAdamW, DistMuon] state dicts, as each of the 2 "
          "files of a distributed nanochat run holds");
  fs::remove(dir + "/optim_000005_rank0.pt");
  fs::remove(dir + "/optim_000005_rank1.pt");
  testing::expect_error<std::runtime_error>(
      [&] { load_checkpoint(dir, 5, torch::kCPU, true); },
      "step 5 has no optimizer state (neither optim_000005.pt nor optim_000005_rank0.pt)");
  EXPECT_NO_THROW(load_checkpoint(dir, 5, torch::kCPU));  // the model alone still loads
}

// Python's json.dump writes inf and nan as bare words (nanochat's min_val_bpb before the first
// evaluation is inf); they read as null, and strings keep them as they are.
TEST(NanochatMeta, PythonInfinityAndNanReadAsNull) {
  const auto meta = parse_meta(
      R"({"step": 3, "model_config": {}, "val_bpb": NaN, "note": "Infinity \" NaN",
          "loop_state": {"min_val_bpb": Infinity, "smooth_train_loss": -Infinity}})",
      "meta_000003.json");
  EXPECT_TRUE(meta.at("val_bpb").is_null());
  EXPECT_TRUE(meta.at("loop_state").at("min_val_bpb").is_null());
  EXPECT_TRUE(meta.at("loop_state").at("smooth_train_loss").is_null());
  EXPECT_EQ(meta.at("note"), "Infinity \" NaN");
  EXPECT_THROW(parse_meta(R"({"step": Infinit})", "m.json"), std::runtime_error);
}

}  // namespace
}  // namespace nt
