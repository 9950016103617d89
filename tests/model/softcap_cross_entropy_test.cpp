// The chunked lm_head loss against the plain autograd graph it replaces (matmul, soft-cap,
// torch's cross_entropy): loss, per-row losses and both gradients, in fp32 and bf16 matmuls,
// with ignored targets, a padded head and chunks that do not divide the rows; by the CPU's row
// kernel and by the tensor ops other devices run.
#include "model/softcap_cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>

#include "model/softcap_rows.h"
#include "tests/support/expect_error.h"
#include "tests/support/relative_error.h"
#include "tests/support/tolerance.h"

namespace nt {
namespace {

using testing::relative_error;

constexpr int64_t kRows = 300, kWidth = 48, kVocab = 200, kPaddedVocab = 256;
constexpr double kSoftcap = 15.0;

// Independent of the order of sums, the two paths differ where they round differently:
//  - sums over the vocabulary (softmax) and over rows (the weight gradient) in another order;
//  - exp(logit) against exp(logit - max): an error of u in a logit up to softcap in size moves
//    its exponential by softcap * u, in each path;
//  - the row kernel's own tanh and exp (model/softcap_rows.h): kTanhUlps ulps of 1 in tanh,
//    softcap times that in a logit and so in its exponential, and kExpUlps ulps (2u each) in exp.
double fp32_tolerance(int64_t terms) {
  const double u = testing::unit_roundoff(torch::kFloat32);
  return testing::summation_order_error(terms) + 2.0 * kSoftcap * u + kSoftcap * kTanhUlps * u +
         2.0 * kExpUlps * u;
}

struct Inputs {
  torch::Tensor h, weight, targets;
};

Inputs make_inputs() {
  torch::manual_seed(7);
  Inputs in;
  in.h = torch::randn({kRows, kWidth}).requires_grad_();
  // Weights large enough that some logits reach the cap's flat part.
  in.weight = (torch::randn({kPaddedVocab, kWidth}) * 0.5).requires_grad_();
  in.targets = torch::randint(0, kVocab, {kRows}, torch::kInt64);
  in.targets.index_put_({torch::arange(0, kRows, 7)}, -1);  // ignored rows
  return in;
}

SoftcapLossOptions options(torch::ScalarType dtype, int64_t chunk_rows, bool row_kernel = true) {
  SoftcapLossOptions o;
  o.row_kernel = row_kernel;
  o.vocab_size = kVocab;
  o.softcap = kSoftcap;
  o.chunk_rows = chunk_rows;
  o.matmul_dtype = dtype;
  return o;
}

// The graph GPT used before fusing: fp32 logits for every row, then torch's cross_entropy.
torch::Tensor plain_logits(const Inputs& in, torch::ScalarType dtype) {
  auto z = torch::mm(in.h.to(dtype), in.weight.narrow(0, 0, kVocab).to(dtype).t());
  return kSoftcap * torch::tanh(z.to(torch::kFloat32) / kSoftcap);
}

torch::Tensor plain_loss(const Inputs& in, torch::ScalarType dtype, bool per_row = false) {
  auto o = torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1);
  if (per_row) o.reduction(torch::kNone);
  return torch::nn::functional::cross_entropy(plain_logits(in, dtype), in.targets, o);
}

struct Gradients {
  torch::Tensor loss, grad_h, grad_weight;
};

template <typename LossFn>
Gradients gradients_of(Inputs& in, LossFn loss_fn) {
  in.h.mutable_grad() = torch::Tensor();
  in.weight.mutable_grad() = torch::Tensor();
  auto loss = loss_fn();
  loss.backward();
  return {loss.detach(), in.h.grad().clone(), in.weight.grad().clone()};
}

class SoftcapCrossEntropyPaths : public ::testing::TestWithParam<bool> {};  // row_kernel

INSTANTIATE_TEST_SUITE_P(RowKernelAndTensorOps, SoftcapCrossEntropyPaths, ::testing::Bool());

TEST_P(SoftcapCrossEntropyPaths, MatchesThePlainGraphInFloat32) {
  auto in = make_inputs();
  const auto expected = gradients_of(in, [&] { return plain_loss(in, torch::kFloat32); });
  for (int64_t chunk_rows : {0, 1, 64, 128, 1000}) {  // 300: 64 leaves a partial chunk
    const auto fused = gradients_of(in, [&] {
      return softcap_cross_entropy(in.h, in.weight, in.targets,
                                   options(torch::kFloat32, chunk_rows, GetParam()));
    });
    EXPECT_LT(relative_error(fused.loss, expected.loss), fp32_tolerance(kVocab)) << chunk_rows;
    EXPECT_LT(relative_error(fused.grad_h, expected.grad_h), fp32_tolerance(kVocab)) << chunk_rows;
    EXPECT_LT(relative_error(fused.grad_weight, expected.grad_weight), fp32_tolerance(kRows))
        << chunk_rows;
    // The padding rows of the head take no part in the loss.
    EXPECT_EQ(fused.grad_weight.narrow(0, kVocab, kPaddedVocab - kVocab).abs().max().item<float>(),
              0.0f);
  }
}

TEST_P(SoftcapCrossEntropyPaths, MatchesThePlainGraphWithBfloat16Matmuls) {
  auto in = make_inputs();
  const auto expected = gradients_of(in, [&] { return plain_loss(in, torch::kBFloat16); });
  constexpr int64_t kChunkRows = 64;
  const auto fused = gradients_of(in, [&] {
    return softcap_cross_entropy(in.h, in.weight, in.targets,
                                 options(torch::kBFloat16, kChunkRows, GetParam()));
  });
  // Both paths round the logits' matmul identically; the gradient matmuls take the same bf16
  // operands up to where a few-ulp fp32 difference in d(logit) rounds to the other bf16 value
  // (2u), and the fused path rounds one product per chunk of rows before its fp32 sum, the
  // plain path one product in all.
  const double u = testing::unit_roundoff(torch::kBFloat16);
  const int64_t chunks = (kRows + kChunkRows - 1) / kChunkRows;
  EXPECT_LT(relative_error(fused.loss, expected.loss), fp32_tolerance(kVocab));
  EXPECT_LT(relative_error(fused.grad_h, expected.grad_h), 3.0 * u);
  EXPECT_LT(relative_error(fused.grad_weight, expected.grad_weight), (chunks + 3.0) * u);
}

TEST(SoftcapCrossEntropy, ScalesItsGradientsByTheIncomingGradient) {
  auto in = make_inputs();
  const auto o = options(torch::kFloat32, 64);
  const auto once =
      gradients_of(in, [&] { return softcap_cross_entropy(in.h, in.weight, in.targets, o); });
  const auto quarter = gradients_of(in, [&] {  // as gradient accumulation over 4 micro-steps
    return softcap_cross_entropy(in.h, in.weight, in.targets, o) / 4;
  });
  EXPECT_TRUE(torch::allclose(quarter.grad_h * 4, once.grad_h, 0, 0));
  EXPECT_TRUE(torch::allclose(quarter.grad_weight * 4, once.grad_weight, 0, 0));
}

TEST_P(SoftcapCrossEntropyPaths, PerRowLossesMatchAndIgnoredRowsAreZero) {
  auto in = make_inputs();
  torch::NoGradGuard no_grad;
  const auto expected = plain_loss(in, torch::kFloat32, /*per_row=*/true);
  const auto losses = softcap_cross_entropy_per_row(in.h, in.weight, in.targets,
                                                    options(torch::kFloat32, 64, GetParam()));
  ASSERT_EQ(losses.sizes(), expected.sizes());
  EXPECT_LT(relative_error(losses, expected), fp32_tolerance(kVocab));
  EXPECT_EQ(losses[0].item<float>(), 0.0f);  // row 0's target is -1
  EXPECT_FALSE(softcap_cross_entropy(in.h, in.weight, in.targets, options(torch::kFloat32, 64))
                   .requires_grad());  // no gradients are computed under NoGradGuard
}

TEST_P(SoftcapCrossEntropyPaths, EveryTargetIgnoredGivesNanAsTorchDoes) {
  auto in = make_inputs();
  in.targets.fill_(-1);
  const auto loss =
      softcap_cross_entropy(in.h, in.weight, in.targets, options(torch::kFloat32, 64, GetParam()));
  EXPECT_TRUE(std::isnan(loss.item<double>()));
  EXPECT_TRUE(std::isnan(plain_loss(in, torch::kFloat32).item<double>()));
}

TEST(SoftcapCrossEntropy, RejectsBadShapesAndOptions) {
  auto in = make_inputs();
  auto o = options(torch::kFloat32, 64);
  testing::expect_error([&] { softcap_cross_entropy(in.h.t(), in.weight, in.targets, o); },
                        "expected h (N, C) and weight (Vp, C), found [48, 300] and [256, 48]");
  testing::expect_error(
      [&] { softcap_cross_entropy(in.h, in.weight, in.targets.narrow(0, 0, 9), o); },
      "expected int64 targets (300), found Long of shape [9]");
  o.vocab_size = kPaddedVocab + 1;
  testing::expect_error([&] { softcap_cross_entropy(in.h, in.weight, in.targets, o); },
                        "expected vocab_size in [1, 256], found 257");
  o = options(torch::kFloat32, -1);
  testing::expect_error([&] { softcap_cross_entropy(in.h, in.weight, in.targets, o); },
                        "expected chunk_rows >= 0 (0: automatic), found -1");
  o = options(torch::kFloat32, 64);
  o.softcap = 100;  // exp(100) overflows fp32
  testing::expect_error([&] { softcap_cross_entropy(in.h, in.weight, in.targets, o); },
                        "expected softcap in (0, 60], found 100");
}

}  // namespace
}  // namespace nt
