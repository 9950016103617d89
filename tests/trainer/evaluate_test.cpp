// evaluate_bpb against nanochat's bits per byte computed independently in Python
// (tests/reference/make_reference.py: bpb_reference), on the reference GPT's weights.
#include <gtest/gtest.h>

#include "tests/support/tensor_bundle.h"
#include "tests/support/tolerance.h"
#include "trainer/evaluate.h"

namespace nt {
namespace {

TEST(EvaluateBpb, MatchesNanochatsBitsPerByte) {
  const auto gpt_ref = testing::TensorBundle::load_reference("gpt.safetensors");
  const auto ref = testing::TensorBundle::load_reference("bpb.safetensors");
  GPT model(testing::reference_config());
  testing::load_parameters(*model, gpt_ref, "weight.");
  const auto shape = ref.at("shape");
  const int64_t batch = shape[0].item<int64_t>(), seq_len = shape[1].item<int64_t>();
  const int64_t eval_tokens = shape[2].item<int64_t>();
  model->train();
  const double bpb = evaluate_bpb(model, ref.at("tokens"), ref.at("token_bytes"), batch, seq_len,
                                  eval_tokens, nullptr, torch::kCPU);
  // An fp32 forward in another summation order; the sums themselves are in fp64.
  const double expected = ref.at("bpb").item<double>();
  EXPECT_NEAR(bpb, expected, testing::loss_error(expected, eval_tokens, model->config().n_embd));
  EXPECT_TRUE(model->is_training()) << "evaluate_bpb must restore the training mode";
}

}  // namespace
}  // namespace nt
