// Two full training steps, GPT plus nanochat's optimizer pair as setup_optimizers builds it,
// against the PyTorch reference: checks group membership, LR scaling and the step order, with
// Muon's Newton-Schulz in bfloat16 (nanochat's) and in float32.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
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
  // Python's forward and backward sum in another order than LibTorch's C++ modules, and Muon's
  // Newton-Schulz carries the gradients' difference into its own precision.
  const int64_t tokens = gpt_ref.at("idx").numel();
  const double ns_tolerance = testing::newton_schulz_tolerance(
      opt.muon->options().ns_dtype, opt.muon->options().ns_steps,
      testing::weight_gradient_error(tokens, model->config().n_embd));
  const auto matrices = model->matrix_params();
  auto is_matrix = [&](const torch::Tensor& p) {
    return std::any_of(matrices.begin(), matrices.end(),
                       [&](const torch::Tensor& m) { return m.is_same(p); });
  };
  for (int s = 0; s < 2; ++s) {
    auto loss = model->forward(gpt_ref.at("idx"), gpt_ref.at("targets"));
    const double got = loss.item<double>();
    loss.backward();
    // Step 0 starts from the same weights; step 1 from weights that the first update may have
    // moved apart by up to the tolerances checked below, which moves the loss to first order by
    // at most sum ||dL/dW|| * ||W_1 - W_2|| (Cauchy-Schwarz).
    double tolerance = testing::loss_error(got, tokens, model->config().n_embd);
    if (s > 0) {
      for (const auto& item : model->named_parameters()) {
        const auto& p = item.value();
        const double weight_tolerance =
            is_matrix(p)
                ? testing::muon_weight_tolerance(p.size(0), p.size(1), 0.02, s, ns_tolerance)
                : ns_tolerance * (p - before.at(item.key())).norm().item<double>();
        tolerance += p.grad().norm().item<double>() * weight_tolerance;
      }
    }
    EXPECT_NEAR(got, ref.at(fmt::format("loss{}.{}", suffix, s)).item<double>(), tolerance)
        << "step " << s;
    opt.step();
    opt.zero_grad();
  }
  for (const auto& item : model->named_parameters()) {
    const auto& p = item.value();
    const auto& expected = ref.at("final" + suffix + "." + item.key());
    if (is_matrix(p))
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
