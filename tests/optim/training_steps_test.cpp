// Two full training steps, GPT plus nanochat's optimizer pair as setup_optimizers builds it,
// against the PyTorch reference: checks group membership, LR scaling and the step order.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "optim/setup.h"
#include "tests/support/tensor_bundle.h"

namespace nt {
namespace {

TEST(TrainingSteps, TwoStepsMatchReference) {
  const auto gpt_ref = testing::TensorBundle::load_reference("gpt.safetensors");
  const auto ref = testing::TensorBundle::load_reference("train_steps.safetensors");
  GPT model(testing::reference_config());
  testing::load_parameters(*model, gpt_ref, "weight.");
  Optimizers opt = setup_optimizers(model, OptimizerConfig{});
  opt.set_schedule(1.0, 0.85);
  for (int s = 0; s < 2; ++s) {
    auto loss = model->forward(gpt_ref.at("idx"), gpt_ref.at("targets"));
    EXPECT_NEAR(loss.item<double>(), ref.at(fmt::format("loss.{}", s)).item<double>(), 1e-5)
        << "step " << s;
    loss.backward();
    opt.step();
    opt.zero_grad();
  }
  for (const auto& item : model->named_parameters()) {
    const auto& expected = ref.at("final." + item.key());
    EXPECT_LT((item.value() - expected).abs().max().item<double>(), 1e-5) << item.key();
  }
}

}  // namespace
}  // namespace nt
