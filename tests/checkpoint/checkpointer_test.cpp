// The Checkpointer and TrainState: a saved step resumes model, optimizers, data position, loop
// figures and RNG exactly; retention and the on_save_error choice act on real saves; metas of
// nanotrain, of nanochat, damaged and from a newer format read as documented.
#include "checkpoint/checkpointer.h"

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "checkpoint/meta.h"
#include "checkpoint/model_export.h"
#include "checkpoint/sharded_checkpoint.h"
#include "checkpoint/step_dir.h"
#include "data/token_shard.h"
#include "tests/checkpoint/checkpoint_fixture.h"
#include "tests/support/same_ivalue.h"

namespace nt {
namespace {

TrainState sample_state() {
  TrainState state;
  state.step = 7;
  state.total_training_time = 12.5;
  state.smooth_train_loss = 3.25;
  state.val_bpb = 1.75;
  state.min_val_bpb = 1.5;
  state.data = LoaderState{2, 4096, 1};
  state.rng_state = {{"cpu", "abc"}};
  return state;
}

// A meta as save_checkpoint completes it: model_config and a commit record (its step is
// sample_state's).
nlohmann::json committed_meta() {
  return {{"model_config", nlohmann::json::object()},
          {"step", sample_state().step},
          {"format_version", kMetaFormatVersion},
          {"files", nlohmann::json::object()}};
}

TEST(TrainState, RoundTripsThroughNanotrainMeta) {
  nlohmann::json meta = committed_meta();
  write_train_state(sample_state(), 4, meta);
  EXPECT_EQ(meta.at("dataloader_state_dict").at("world_size"), 4);
  const TrainState read = read_train_state(meta, "m.json");
  const TrainState want = sample_state();
  EXPECT_EQ(read.step, want.step);
  EXPECT_EQ(read.total_training_time, want.total_training_time);
  EXPECT_EQ(read.smooth_train_loss, want.smooth_train_loss);
  EXPECT_EQ(read.val_bpb, want.val_bpb);
  EXPECT_EQ(read.min_val_bpb, want.min_val_bpb);
  ASSERT_TRUE(read.data.has_value());
  EXPECT_EQ(read.data->shard, 2);
  EXPECT_EQ(read.data->position, 4096);
  EXPECT_EQ(read.data->epoch, 1);
  EXPECT_EQ(read.rng_state, want.rng_state);
}

TEST(TrainState, NanochatMetaHasNoDataPositionAndNullsReadAsDefaults) {
  // nanochat's base_train writes Python's inf for a min_val_bpb never measured (read as null).
  const nlohmann::json meta = {
      {"step", 20},
      {"model_config", nlohmann::json::object()},
      {"val_bpb", nullptr},
      {"loop_state", {{"min_val_bpb", nullptr}, {"smooth_train_loss", 4.5}}},
      {"dataloader_state_dict", {{"pq_idx", 3}, {"rg_idx", 1}}}};
  const TrainState state = read_train_state(meta, "meta_000020.json");
  EXPECT_EQ(state.step, 20);
  EXPECT_FALSE(state.data.has_value());
  EXPECT_TRUE(state.rng_state.is_null());
  EXPECT_EQ(state.val_bpb, -1.0);
  EXPECT_EQ(state.min_val_bpb, -1.0);
  EXPECT_EQ(state.smooth_train_loss, 4.5);
  EXPECT_EQ(state.total_training_time, 0.0);
  const TrainState bare = read_train_state({{"step", 3}, {"model_config", {}}}, "m");
  EXPECT_EQ(bare.step, 3);
  EXPECT_EQ(bare.smooth_train_loss, 0.0);
}

TEST(TrainState, DamagedAndNewerMetasAreNamedErrors) {
  nlohmann::json good = committed_meta();
  write_train_state(sample_state(), 1, good);
  const std::pair<std::function<void(nlohmann::json&)>, std::string> cases[] = {
      {[](nlohmann::json& m) { m["dataloader_state_dict"].erase("shard"); },
       "m.json: cannot resume: key 'dataloader_state_dict.shard': expected an integer, found "
       "nothing"},
      {[](nlohmann::json& m) { m["dataloader_state_dict"]["epoch"] = "1"; },
       "key 'dataloader_state_dict.epoch': expected an integer, found \"1\""},
      {[](nlohmann::json& m) { m.erase("dataloader_state_dict"); },
       "key 'dataloader_state_dict': expected an object, found nothing"},
      {[](nlohmann::json& m) { m.erase("loop_state"); }, "key 'loop_state' is missing"},
      {[](nlohmann::json& m) { m["loop_state"]["smooth_train_loss"] = "low"; },
       "key 'smooth_train_loss': expected a number, found \"low\""},
      {[](nlohmann::json& m) { m["format_version"] = kMetaFormatVersion + 1; },
       "was written by a newer nanotrain"},
  };
  for (const auto& [damage, message] : cases) {
    nlohmann::json meta = good;
    damage(meta);
    testing::expect_error<std::runtime_error>([&] { read_train_state(meta, "m.json"); }, message);
  }
}

class CheckpointerTest : public CheckpointTest {
 protected:
  DistributedTokenLoader make_loader() const {
    const auto shards =
        list_token_shards(testing::prepared_data_dir(), testing::prepared_vocab_size());
    return DistributedTokenLoader(shards.train, 2, 16, /*rank=*/0, /*world_size=*/1, 42);
  }
  // What make_model's runs resume against (their metas record no tokenizer CRC).
  static ResumeChecks resume_checks() {
    return {make_model(1)->config(), 32, "tokenizer", testing::prepared_vocab_size(), ""};
  }
  TrainState state_at(int64_t step, const DistributedTokenLoader& loader) const {
    TrainState state = sample_state();
    state.step = step;
    state.data = loader.state();
    return state;
  }
};

TEST_F(CheckpointerTest, ResumesModelOptimizersDataLoopAndRngExactly) {
  auto loader = make_loader();
  train_steps(2);
  for (int i = 0; i < 3; ++i) loader.next();
  {
    Checkpointer checkpointer({dir_}, 0, 1, nullptr);
    torch::manual_seed(1234);
    checkpointer.save(state_at(5, loader), model_, *optimizers_, meta_for(model_));
    checkpointer.finish();
  }
  const auto draw_after_save = torch::rand({4});
  const auto next_batch = loader.next().first;
  std::map<std::string, torch::Tensor> saved, trained;
  for (const auto& entry : model_state_dict(model_)) saved[entry.key()] = entry.value().clone();
  torch::manual_seed(7);
  train_steps(1);  // what the resumed model and optimizers must reproduce
  for (const auto& entry : model_state_dict(model_)) trained[entry.key()] = entry.value().clone();

  Checkpointer checkpointer({dir_}, 0, 1, nullptr);
  const ResumeChecks checks = resume_checks();
  EXPECT_FALSE(checkpointer.find_resume(-1, checks));
  const auto point = checkpointer.find_resume(kResumeAuto, checks);
  ASSERT_TRUE(point);
  EXPECT_EQ(point->step, 5);
  EXPECT_EQ(point->meta.at("step"), 5);
  EXPECT_EQ(config_to_json(point->model_config), config_to_json(model_->config()));
  model_ = make_model(99);
  optimizers_ = std::make_unique<Optimizers>(setup_optimizers(model_, OptimizerConfig{}));
  auto resumed_loader = make_loader();
  torch::manual_seed(1);
  const TrainState state =
      checkpointer.load(*point, model_, *optimizers_, resumed_loader, torch::kCPU);
  EXPECT_EQ(state.step, 5);
  EXPECT_EQ(state.smooth_train_loss, sample_state().smooth_train_loss);
  EXPECT_EQ(state.min_val_bpb, sample_state().min_val_bpb);
  EXPECT_TRUE(torch::equal(torch::rand({4}), draw_after_save)) << "RNG not restored";
  EXPECT_TRUE(torch::equal(resumed_loader.next().first, next_batch)) << "data position lost";
  for (const auto& entry : model_state_dict(model_))
    EXPECT_TRUE(torch::equal(entry.value(), saved.at(entry.key()))) << entry.key();
  // The same step from the same weights matches only if the optimizer state came back too.
  torch::manual_seed(7);
  train_steps(1);
  for (const auto& entry : model_state_dict(model_))
    EXPECT_TRUE(torch::equal(entry.value(), trained.at(entry.key()))) << entry.key();
}

TEST_F(CheckpointerTest, KeepsTheNewestStepsAndActsOnSaveErrorsAsTold) {
  const auto loader = make_loader();
  // A directory where step 4's model file goes makes that save fail, as a full disk would.
  const auto block_step_4 = [&] {
    std::filesystem::create_directories(dir_ + "/model_000004.pt/x");
  };
  const auto save = [&](Checkpointer& checkpointer, int64_t step) {
    checkpointer.save(state_at(step, loader), model_, *optimizers_, meta_for(model_));
  };
  {
    Checkpointer checkpointer({dir_, /*keep_last=*/2}, 0, 1, nullptr);
    for (int64_t step = 1; step <= 3; ++step) save(checkpointer, step);
    EXPECT_EQ(list_meta_steps(dir_), (std::vector<int64_t>{2, 3}));
    block_step_4();
    testing::expect_error<std::runtime_error>([&] { save(checkpointer, 4); },
                                              "checkpoint of step 4 failed: ");
    testing::expect_error<std::runtime_error>(
        [&] { save(checkpointer, 4); },
        "training stopped (on_save_error=stop), earlier steps are intact");
  }
  {
    CheckpointerOptions options{dir_, 2};
    options.on_save_error = OnSaveError::kContinue;
    Checkpointer checkpointer(options, 0, 1, nullptr);
    save(checkpointer, 4);  // logged, not thrown
    std::filesystem::remove_all(dir_ + "/model_000004.pt");
    save(checkpointer, 5);
    checkpointer.finish();
    EXPECT_EQ(list_meta_steps(dir_), (std::vector<int64_t>{3, 5}));
  }
  {
    // Asynchronous: the failure surfaces at the next save or, as here, at finish().
    CheckpointerOptions options{dir_};
    options.async = true;
    Checkpointer checkpointer(options, 0, 1, nullptr);
    block_step_4();
    save(checkpointer, 4);
    testing::expect_error<std::runtime_error>([&] { checkpointer.finish(); },
                                              "checkpoint of step 4 failed: ");
  }
  EXPECT_EQ(find_last_step(dir_), 5);
}

// agree_on_resume_step in a world of one: what each --resume_from_step resolves to, with the meta
// it read, and a rollback refused or pruned as asked.
TEST_F(CheckpointTest, ResumeStepResolvesAutoStepsAndRollbacks) {
  EXPECT_FALSE(agree_on_resume_step(dir_, kResumeAuto, false, 0, nullptr)) << "no directory yet";
  save_trained_step(2);
  save_trained_step(4);
  save_trained_step(6);
  std::ofstream(dir_ + "/meta_000008.json") << "{";  // a step killed while committing
  EXPECT_FALSE(agree_on_resume_step(dir_, -1, false, 0, nullptr));
  const auto last = agree_on_resume_step(dir_, kResumeAuto, false, 0, nullptr);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->step, 6);
  EXPECT_EQ(last->meta.at("step"), 6);
  const auto same = agree_on_resume_step(dir_, 6, false, 0, nullptr);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->meta, last->meta);
  expect_runtime_error([&] { agree_on_resume_step(dir_, 2, false, 0, nullptr); },
                       "resume_from_step=2 rolls back '" + dir_ +
                           "', which holds the later steps "
                           "[4, 6]");
  expect_runtime_error([&] { agree_on_resume_step(dir_, 3, false, 0, nullptr); }, "[4, 6]");
  const auto rolled_back = agree_on_resume_step(dir_, 4, /*prune_abandoned=*/true, 0, nullptr);
  ASSERT_TRUE(rolled_back);
  EXPECT_EQ(rolled_back->step, 4);
  EXPECT_FALSE(is_complete_step(dir_, 6)) << "the abandoned step was not deleted";
  EXPECT_TRUE(is_complete_step(dir_, 2));
  expect_runtime_error([&] { agree_on_resume_step(dir_, 5, false, 0, nullptr); },
                       "rank 0 resumes from step 5, which '" + dir_ + "' does not hold complete");
  testing::expect_error<std::invalid_argument>([] { parse_resume_from_step("latest", false); },
                                               "expected -1, auto, a step number or nothing");
}

TEST_F(CheckpointerTest, SecondCheckpointerOnTheDirectoryIsRefused) {
  Checkpointer first({dir_}, 0, 1, nullptr);
  testing::expect_error<std::runtime_error>([&] { Checkpointer second({dir_}, 0, 1, nullptr); },
                                            "in use");
  Checkpointer other_rank({dir_}, 1, 2, nullptr);  // ranks other than 0 take no lock
}

TEST_F(CheckpointerTest, ShardedLayoutResumesExactlyAndExportsGathered) {
  auto loader = make_loader();
  train_steps(2);
  CheckpointerOptions options{dir_};
  options.layout = CheckpointLayout::kSharded;
  {
    Checkpointer checkpointer(options, 0, 1, nullptr);
    checkpointer.save(state_at(3, loader), model_, *optimizers_, meta_for(model_));
  }
  const nlohmann::json meta = read_meta(dir_ + "/meta_000003.json");
  EXPECT_EQ(meta.at("optim_shards"), 1);
  EXPECT_TRUE(meta.at("files").contains("optim_000003_rank0.pt"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/optim_000003.pt"));

  // The gathered export is what save_checkpoint would have written: torch.load reads it.
  const std::string out = dir_ + "_gathered";
  std::filesystem::remove_all(out);
  EXPECT_EQ(export_gathered(dir_, -1, out), 3);
  const CheckpointData gathered = load_checkpoint(out, 3, torch::kCPU, /*load_optimizer=*/true);
  ASSERT_TRUE(gathered.optimizer_data.has_value());
  EXPECT_TRUE(testing::same_ivalue(*gathered.optimizer_data, optimizers_->state_dicts()));
  EXPECT_FALSE(gathered.meta_data.contains("optim_shards"));
  testing::expect_error<std::runtime_error>([&] { export_gathered(dir_, 3, out); },
                                            "step 3 exists already");
  std::filesystem::remove_all(out);

  std::map<std::string, torch::Tensor> trained;
  torch::manual_seed(7);
  train_steps(1);
  for (const auto& entry : model_state_dict(model_)) trained[entry.key()] = entry.value().clone();
  model_ = make_model(99);
  optimizers_ = std::make_unique<Optimizers>(setup_optimizers(model_, OptimizerConfig{}));
  auto resumed_loader = make_loader();
  Checkpointer checkpointer(options, 0, 1, nullptr);
  const auto point = checkpointer.find_resume(3, resume_checks());
  ASSERT_TRUE(point);
  EXPECT_EQ(checkpointer.load(*point, model_, *optimizers_, resumed_loader, torch::kCPU).step, 3);
  torch::manual_seed(7);
  train_steps(1);
  for (const auto& entry : model_state_dict(model_))
    EXPECT_TRUE(torch::equal(entry.value(), trained.at(entry.key()))) << entry.key();
}

TEST_F(CheckpointerTest, DamagedShardsAreNamed) {
  const auto loader = make_loader();
  train_steps(1);
  CheckpointerOptions options{dir_};
  options.layout = CheckpointLayout::kSharded;
  Checkpointer checkpointer(options, 0, 1, nullptr);
  for (int64_t step : {1, 2}) {
    checkpointer.save(state_at(step, loader), model_, *optimizers_, meta_for(model_));
    train_steps(1);
  }
  const std::string shard = dir_ + "/optim_000002_rank0.pt";
  const std::string saved = dir_ + "/saved.pt";
  std::filesystem::copy_file(shard, saved);
  // A shard of another step: the same size, another checksum.
  std::filesystem::copy_file(dir_ + "/optim_000001_rank0.pt", shard,
                             std::filesystem::copy_options::overwrite_existing);
  testing::expect_error<std::runtime_error>(
      [&] { load_checkpoint(dir_, 2, torch::kCPU, /*load_optimizer=*/true); },
      "optim_000002_rank0.pt");
  // Truncated or missing: the step is not complete, and the last complete one is step 1.
  std::filesystem::resize_file(shard, 100);
  EXPECT_FALSE(is_complete_step(dir_, 2));
  std::filesystem::remove(shard);
  EXPECT_FALSE(is_complete_step(dir_, 2));
  EXPECT_EQ(find_last_step(dir_), 1);
  std::filesystem::rename(saved, shard);
  EXPECT_TRUE(is_complete_step(dir_, 2));
  // Step 2 saved again by fewer ranks than a file of it claims: no shard outlives its save.
  std::ofstream(dir_ + "/optim_000002_rank1.pt") << "an earlier, larger job's shard";
  checkpointer.save(state_at(2, loader), model_, *optimizers_, meta_for(model_));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/optim_000002_rank1.pt"));
  EXPECT_TRUE(is_complete_step(dir_, 2));
}

// Async with the sharded layout: the files are written on a background thread and the step is
// committed once the writer is done, at a later step's maybe_save or at finish(); a forced save
// is complete when maybe_save returns; a failed write is named at its commit.
TEST_F(CheckpointerTest, AsyncShardedSavesCommitLaterAndResumeExactly) {
  auto loader = make_loader();
  train_steps(1);
  CheckpointerOptions options{dir_};
  options.layout = CheckpointLayout::kSharded;
  options.async = true;
  options.save_every = 2;
  std::map<std::string, torch::Tensor> saved;
  {
    Checkpointer checkpointer(options, 0, 1, nullptr);
    TrainState state = state_at(2, loader);
    ASSERT_TRUE(checkpointer.maybe_save(state, model_, *optimizers_, loader, meta_for(model_),
                                        /*force=*/false));
    for (const auto& entry : model_state_dict(model_)) saved[entry.key()] = entry.value().clone();
    train_steps(1);  // changes what the writer copied before it started: it must not see this
    // Step 3 saves nothing; it commits step 2 once the writer is done.
    state.step = 3;
    for (int i = 0; i < 200 && !is_complete_step(dir_, 2); ++i) {
      EXPECT_FALSE(checkpointer.maybe_save(state, model_, *optimizers_, loader, meta_for(model_),
                                           /*force=*/false));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(is_complete_step(dir_, 2));
    state.step = 4;
    ASSERT_TRUE(checkpointer.maybe_save(state, model_, *optimizers_, loader, meta_for(model_),
                                        /*force=*/true));
    EXPECT_TRUE(is_complete_step(dir_, 4));  // forced: written before maybe_save returned
    checkpointer.finish();
  }
  const auto step_2 = load_checkpoint(dir_, 2, torch::kCPU, /*load_optimizer=*/false);
  for (const auto& entry : step_2.model_data)
    EXPECT_TRUE(torch::equal(entry.value(), saved.at(entry.key()))) << entry.key();
  EXPECT_EQ(read_meta(dir_ + "/meta_000002.json").at("optim_shards"), 1);

  // A failed background write leaves no step behind and is named when it is committed.
  std::filesystem::create_directories(dir_ + "/optim_000006_rank0.pt/x");
  Checkpointer checkpointer(options, 0, 1, nullptr);
  TrainState state = state_at(6, loader);
  checkpointer.maybe_save(state, model_, *optimizers_, loader, meta_for(model_), false);
  testing::expect_error<std::runtime_error>([&] { checkpointer.finish(); },
                                            "checkpoint of step 6 failed: ");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/model_000006.pt"));
  EXPECT_EQ(find_last_step(dir_), 4);
}

TEST(CheckpointerOptions, ChoicesParseOnceWithNamedErrors) {
  EXPECT_EQ(parse_on_save_error("stop"), OnSaveError::kStop);
  EXPECT_EQ(parse_on_save_error("continue"), OnSaveError::kContinue);
  testing::expect_error<std::invalid_argument>(
      [] { parse_on_save_error("ignore"); },
      "on_save_error: expected stop or continue, found 'ignore'");
  for (bool restarted : {false, true}) {  // a step the user names holds on a restart too
    EXPECT_EQ(parse_resume_from_step("-1", restarted), -1);
    EXPECT_EQ(parse_resume_from_step("auto", restarted), kResumeAuto);
    EXPECT_EQ(parse_resume_from_step("000120", restarted), 120);
  }
  // Unset: a fresh start on the job's first attempt, the last complete step on a restart.
  EXPECT_EQ(parse_resume_from_step("", false), -1);
  EXPECT_EQ(parse_resume_from_step("", true), kResumeAuto);
  for (const char* bad : {"-2", "latest", "1e3", "99999999999999999999"})
    testing::expect_error<std::invalid_argument>(
        [&] { parse_resume_from_step(bad, false); },
        fmt::format("resume_from_step: expected -1, auto, a step number or nothing, found '{}'",
                    bad));
}

}  // namespace
}  // namespace nt
