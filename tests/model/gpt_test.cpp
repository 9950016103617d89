// GPT forward and backward against the PyTorch reference, init, FLOPs and input checks.
#include <gtest/gtest.h>

#include "model/gpt.h"
#include "tests/support/expect_error.h"
#include "tests/support/relative_error.h"
#include "tests/support/tensor_bundle.h"
#include "tests/support/tolerance.h"

namespace nt {
namespace {

using testing::expect_error;
using testing::reference_config;
using testing::relative_error;
using testing::TensorBundle;

class GPTReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = GPT(reference_config());
    testing::load_parameters(*model_, ref_, "weight.");
  }
  TensorBundle ref_ = TensorBundle::load_reference("gpt.safetensors");
  GPT model_{nullptr};
};

TEST_F(GPTReferenceTest, ParameterNamesAndShapesMatchNanochat) {
  auto params = model_->named_parameters();
  ASSERT_EQ(params.size(), 2u + 6u * 2u);
  EXPECT_EQ(params.begin()->key(), "transformer.wte.weight");
  EXPECT_EQ(params[params.size() - 1].key(), "lm_head.weight");
  for (const auto& item : params)
    EXPECT_EQ(item.value().sizes(), ref_.at("weight." + item.key()).sizes()) << item.key();
  EXPECT_EQ(model_->transformer->wte->weight.size(0), 128);  // 100 padded to 64
}

TEST_F(GPTReferenceTest, ForwardLogitsAndLossMatchReference) {
  auto logits = model_->forward(ref_.at("idx"));
  ASSERT_EQ(logits.sizes(), ref_.at("logits").sizes());
  EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
  EXPECT_LT(relative_error(logits, ref_.at("logits")), 1e-5);
  auto loss = model_->forward(ref_.at("idx"), ref_.at("targets"));
  EXPECT_NEAR(loss.item<double>(), ref_.at("loss").item<double>(),
              1e-5 * ref_.at("loss").item<double>());
}

TEST_F(GPTReferenceTest, BackwardGradientsMatchReference) {
  model_->forward(ref_.at("idx"), ref_.at("targets")).backward();
  for (const auto& item : model_->named_parameters()) {
    const auto& expected = ref_.at("grad." + item.key());
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_LT(relative_error(item.value().grad(), expected), 1e-4) << item.key();
  }
}

TEST_F(GPTReferenceTest, Bfloat16ComputeStaysCloseToFloat32) {
  auto fp32 = model_->forward(ref_.at("idx"));
  model_->set_compute_dtype(torch::kBFloat16);
  auto bf16 = model_->forward(ref_.at("idx"));
  EXPECT_EQ(bf16.scalar_type(), torch::kFloat32);
  for (const auto& p : model_->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  const double err = relative_error(bf16, fp32);
  EXPECT_GT(err, 0.0);  // really computed in bf16
  EXPECT_LT(err, 0.05);
}

TEST(GPTInit, FollowsNanochatScheme) {
  GPT model(GPTConfig::from_depth(2, 32, 300));
  model->init_weights(7);
  for (const auto& item : model->named_parameters()) {
    const auto& name = item.key();
    const auto& w = item.value();
    if (name == "lm_head.weight" || name.find("c_proj") != std::string::npos) {
      EXPECT_EQ(w.abs().max().item<double>(), 0.0) << name;
      continue;
    }
    const double fan_out = w.size(0), fan_in = w.size(1);
    const double expected =
        name == "transformer.wte.weight"
            ? 1.0
            : 1.0 / std::sqrt(fan_in) * std::min(1.0, std::sqrt(fan_out / fan_in));
    EXPECT_NEAR(w.std().item<double>(), expected, 0.1 * expected) << name;
  }
}

TEST(GPTInit, IsDeterministicInTheSeed) {
  GPT a(GPTConfig::from_depth(2, 32, 300)), b(GPTConfig::from_depth(2, 32, 300)),
      c(GPTConfig::from_depth(2, 32, 300));
  a->init_weights(7);
  torch::manual_seed(123);  // the global generator must not matter
  b->init_weights(7);
  c->init_weights(8);
  auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
  EXPECT_TRUE(torch::equal(pa[0], pb[0]));
  EXPECT_TRUE(torch::equal(pa[1], pb[1]));
  EXPECT_FALSE(torch::equal(pa[0], pc[0]));
}

TEST(GPTInit, FreshModelPredictsUniformly) {
  // lm_head starts at zero, so every logit is 0 and the loss is ln(vocab_size).
  GPT model(GPTConfig::from_depth(2, 32, 300));
  model->init_weights(1);
  auto idx = torch::randint(0, 300, {2, 8}, torch::kInt64);
  EXPECT_NEAR(model->forward(idx, idx).item<double>(), std::log(300.0),
              testing::loss_error(std::log(300.0), idx.numel(), model->config().n_embd));
}

TEST(GPTLoss, ReductionNoneGivesPerTargetLossesThatAverageToTheMean) {
  torch::manual_seed(0);
  GPT model(GPTConfig::from_depth(1, 16, 300));
  model->init_weights(2);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0, 0.05);  // non-uniform predictions
  auto idx = torch::randint(0, 300, {2, 8}, torch::kInt64);
  auto targets = idx.roll(1, 1);
  targets[0][3] = -1;  // ignored: 0 in the per-target losses, left out of the mean
  const auto losses = model->forward(idx, targets, "none");
  ASSERT_EQ(losses.sizes(), (std::vector<int64_t>{16}));
  EXPECT_EQ(losses[3].item<float>(), 0.0f);
  const auto logits = model->forward(idx).view({16, 300});
  const auto flat = targets.view({16});
  const double loss5 = losses[5].item<double>();
  EXPECT_NEAR(loss5, (logits[5].logsumexp(0) - logits[5][flat[5].item<int64_t>()]).item<double>(),
              testing::loss_error(loss5, 1, model->config().n_embd));
  // The mean of 15 terms, each a logsumexp over 300 logits, summed in other orders.
  const double mean = model->forward(idx, targets).item<double>();
  EXPECT_NEAR(losses.sum().item<double>() / 15, mean,
              std::abs(mean) * testing::summation_order_error(15 + 300));
  testing::expect_error([&] { model->forward(idx, targets, "sum"); },
                        "loss_reduction: expected 'mean' or 'none', found 'sum'");
}

TEST(GPTFlops, CountsNanochatFormula) {
  const GPTConfig c = GPTConfig::from_depth(4, 256, 257);  // C=256, H=2, hd=128, Vp=320
  GPT model(c);
  const int64_t block = 4 * 256 * 256 + 2 * 4 * 256 * 256;  // attn q,k,v,proj + mlp fc,proj
  const int64_t params = 2 * 320 * 256 + 4 * block;
  EXPECT_EQ(model->num_params(), params);
  EXPECT_EQ(model->estimate_flops(), 6 * (params - 320 * 256) + 12 * 4 * 2 * 128 * 256);
}

TEST(GPTInput, RejectsSequenceLongerThanSequenceLen) {
  GPT model(reference_config());
  expect_error(
      [&] {
        model->forward(torch::zeros({1, 17}, torch::kInt64));
      },
      "sequence length 17 exceeds the model's sequence_len 16");
}

TEST(GPTInput, RejectsTokenIdsOutsideVocabulary) {
  GPT model(reference_config());
  auto idx = torch::zeros({1, 4}, torch::kInt64);
  idx[0][2] = 100;
  expect_error([&] { model->forward(idx); }, "expected token ids in [0, 100), found 100");
  idx[0][2] = -3;
  expect_error([&] { model->forward(idx); }, "found -3");
  auto targets = torch::full({1, 4}, -1, torch::kInt64);
  targets[0][1] = 250;
  expect_error(
      [&] {
        model->forward(torch::zeros({1, 4}, torch::kInt64), targets);
      },
      "GPT targets: expected token ids in [-1, 100), found 250");
}

TEST(GPTInput, RejectsWrongShapeOrDtype) {
  GPT model(reference_config());
  EXPECT_THROW(model->forward(torch::zeros({4}, torch::kInt64)), std::invalid_argument);
  EXPECT_THROW(model->forward(torch::zeros({1, 4}, torch::kFloat32)), std::invalid_argument);
  EXPECT_THROW(
      model->forward(torch::zeros({1, 4}, torch::kInt64), torch::zeros({1, 5}, torch::kInt64)),
      std::invalid_argument);
}

}  // namespace
}  // namespace nt
