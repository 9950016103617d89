// Two full training steps, GPT plus nanochat's optimizer pair as setup_optimizers builds it,
// against the PyTorch reference: checks group membership, LR scaling and the step order, with
// Muon's Newton-Schulz in bfloat16 (nanochat's) and in float32.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>

#include "optim/setup.h"
#include "tests/support/tensor_bundle.h"
#include "tests/support/tolerance.h"

namespace nt {
namespace {

void expect_two_steps_match(const std::string& muon_dtype, const std::string& suffix) {
  const auto gpt_ref = testing::TensorBundle::load_reference("gpt.safetensors");
  const auto ref = testing::TensorBundle::load_reference("train_steps.safetensors");
  GPT model(testing::reference_config());
  testing::load_parameters(*model, gpt_ref, "weight.");
  OptimizerConfig config;
  config.muon_dtype = muon_dtype;
  Optimizers opt = setup_optimizers(model, config);
  opt.set_schedule(1.0, 0.85);
  std::map<std::string, torch::Tensor> before;
  for (const auto& item : model->named_parameters()) before[item.key()] = item.value().clone();
  for (int s = 0; s < 2; ++s) {
    auto loss = model->forward(gpt_ref.at("idx"), gpt_ref.at("targets"));
    EXPECT_NEAR(loss.item<double>(), ref.at(fmt::format("loss{}.{}", suffix, s)).item<double>(),
                1e-5)
        << "step " << s;
    loss.backward();
    opt.step();
    opt.zero_grad();
  }
  // Python's forward and backward sum in another order than LibTorch's C++ modules, and Muon's
  // Newton-Schulz carries the gradients' difference into its own precision.
  const double ns_tolerance = testing::newton_schulz_tolerance(
      opt.muon->options().ns_dtype, opt.muon->options().ns_steps,
      testing::weight_gradient_error(gpt_ref.at("idx").numel(), model->config().n_embd));
  const auto matrices = model->matrix_params();
  for (const auto& item : model->named_parameters()) {
    const auto& p = item.value();
    const auto& expected = ref.at("final" + suffix + "." + item.key());
    const bool muon = std::any_of(matrices.begin(), matrices.end(),
                                  [&](const torch::Tensor& m) { return m.is_same(p); });
    if (muon)
      EXPECT_LT((p - expected).norm().item<double>(),
                testing::muon_weight_tolerance(p.size(0), p.size(1), 0.02, 2, ns_tolerance))
          << muon_dtype << " " << item.key();
    else  // AdamW's second step sees gradients that the first Muon update moved, so its update
          // differs relatively by as much as that update did
      EXPECT_LT(((p - expected).norm() / (expected - before.at(item.key())).norm()).item<double>(),
                ns_tolerance)
          << muon_dtype << " " << item.key();
  }
}

TEST(TrainingSteps, TwoStepsMatchReferenceWithNewtonSchulzInBfloat16) {
  expect_two_steps_match("bfloat16", "");
}

TEST(TrainingSteps, TwoStepsMatchReferenceWithNewtonSchulzInFloat32) {
  expect_two_steps_match("float32", "_fp32");
}

}  // namespace
}  // namespace nt
