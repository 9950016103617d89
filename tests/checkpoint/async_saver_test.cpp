// Asynchronous saves write the state as it was when save() returned, surface errors at the next
// call, and never run two at once.
#include <gtest/gtest.h>

#include <fstream>

#include "checkpoint/async_saver.h"
#include "checkpoint/step_dir.h"
#include "tests/checkpoint/checkpoint_fixture.h"

namespace nt {
namespace {

// state[index][key] of optimizer `which` in a [AdamW, Muon] list.
at::Tensor optimizer_state(const c10::IValue& list, size_t which, int64_t index,
                           const std::string& key) {
  return list.toList()
      .get(which)
      .toGenericDict()
      .at("state")
      .toGenericDict()
      .at(index)
      .toGenericDict()
      .at(key)
      .toTensor();
}

TEST_F(CheckpointTest, AsyncSaveWritesTheSnapshot) {
  train_steps(2);
  const auto before = model_state_dict(model_).at("lm_head.weight").clone();
  const auto adam_before = optimizer_state(optimizers_->state_dicts(), 0, 0, "exp_avg").clone();
  AsyncSaver saver;
  saver.save(dir_, 2, model_state_dict(model_), optimizers_->state_dicts(), meta_for(model_));
  train_steps(2);  // updates parameters and optimizer state in place while the save runs
  saver.wait();
  auto data = load_checkpoint(dir_, 2, torch::kCPU, true);
  EXPECT_TRUE(torch::equal(data.model_data.at("lm_head.weight"), before));
  EXPECT_FALSE(torch::equal(model_->lm_head->weight, before));
  EXPECT_TRUE(torch::equal(optimizer_state(*data.optimizer_data, 0, 0, "exp_avg"), adam_before));
}

// The snapshot must own its memory: AsyncSaveWritesTheSnapshot alone would pass with aliases
// whenever the writer finished before training changed the weights.
TEST(CopyToHost, EveryTensorIsACopyInItsOwnStorage) {
  const auto weight = torch::randn({3, 4});
  c10::impl::GenericDict state(c10::StringType::get(), c10::AnyType::get());
  state.insert("exp_avg", torch::randn({5}));
  c10::impl::GenericList optimizers(c10::AnyType::get());
  optimizers.push_back(state);
  optimizers.push_back(c10::ivalue::Tuple::create({weight, 0.9}));
  const c10::IValue copy = copy_to_host(optimizers);
  const auto copied_state = copy.toList().get(0).toGenericDict().at("exp_avg").toTensor();
  const auto copied_weight = copy.toList().get(1).toTupleRef().elements()[0].toTensor();
  const auto original_state = state.at("exp_avg").toTensor();
  for (const auto& [original, copied] :
       {std::pair{original_state, copied_state}, std::pair{weight, copied_weight}}) {
    EXPECT_TRUE(torch::equal(original, copied));
    EXPECT_NE(original.storage().data(), copied.storage().data());
  }
  EXPECT_EQ(copy.toList().get(1).toTupleRef().elements()[1].toDouble(), 0.9);
}

TEST_F(CheckpointTest, AsyncSaveErrorSurfacesAtNextCall) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ + "/blocker") << "a file where a directory should be";
  AsyncSaver saver;
  saver.save(dir_ + "/blocker/sub", 1, model_state_dict(model_), std::nullopt, meta_for(model_));
  expect_runtime_error([&] { saver.wait(); }, "cannot create checkpoint directory");
  saver.save(dir_, 1, model_state_dict(model_), std::nullopt, meta_for(model_));
  saver.save(dir_, 2, model_state_dict(model_), std::nullopt, meta_for(model_));  // waits for 1
  saver.wait();
  EXPECT_EQ(find_last_step(dir_), 2);
  EXPECT_TRUE(is_complete_step(dir_, 1));
}

}  // namespace
}  // namespace nt
