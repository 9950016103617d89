// Muon against the reference implementation: tall, wide and square matrices, with and without
// Nesterov momentum, Newton-Schulz in bfloat16 and in float32; and the iteration's
// orthogonalizing effect. Python ran the same LibTorch kernels on the same inputs, so the
// results agree to float32 rounding in either precision.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "optim/muon.h"
#include "tests/support/tensor_bundle.h"

namespace nt {
namespace {

void run_reference_case(const std::string& tag, bool nesterov, torch::ScalarType ns_dtype) {
  const auto ref = testing::TensorBundle::load_reference("optim.safetensors");
  std::vector<torch::Tensor> params;
  for (int i = 0; i < 3; ++i)
    params.push_back(ref.at(fmt::format("{}.init.{}", tag, i)).clone().requires_grad_());
  MuonOptions options;
  options.momentum = 0.9;
  options.nesterov = nesterov;
  options.ns_dtype = ns_dtype;
  Muon opt({{params, 0.02, 0.02}}, options);
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 3; ++i)
      params[i].mutable_grad() = ref.at(fmt::format("{}.grad.{}.{}", tag, s, i)).clone();
    opt.step();
  }
  const auto state = opt.state_dict().toGenericDict().at("state").toGenericDict();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::allclose(params[i], ref.at(fmt::format("{}.final.{}", tag, i)), 1e-5, 1e-6))
        << tag << " param " << i << " max diff "
        << (params[i] - ref.at(fmt::format("{}.final.{}", tag, i))).abs().max().item<double>();
    const auto buf = state.at(static_cast<int64_t>(i)).toGenericDict().at("momentum_buffer");
    EXPECT_TRUE(
        torch::allclose(buf.toTensor(), ref.at(fmt::format("{}.buf.{}", tag, i)), 1e-6, 1e-7))
        << tag << " buffer " << i;
  }
}

TEST(Muon, NesterovStepsMatchReference) {
  run_reference_case("muon_nesterov", true, torch::kBFloat16);
  run_reference_case("muon_nesterov_fp32", true, torch::kFloat32);
}
TEST(Muon, PlainMomentumStepsMatchReference) {
  run_reference_case("muon_plain", false, torch::kBFloat16);
  run_reference_case("muon_plain_fp32", false, torch::kFloat32);
}

TEST(Muon, NewtonSchulzRoughlyOrthogonalizes) {
  // Five quintic steps push singular values into roughly [0.7, 1.2], whatever the input scale.
  torch::manual_seed(0);
  for (auto dtype : {torch::kBFloat16, torch::kFloat32})
    for (auto shape : {std::vector<int64_t>{64, 32}, std::vector<int64_t>{32, 64}}) {
      auto g = torch::randn(shape) * 1000.0;
      auto x = zeropower_via_newtonschulz5(g, 5, dtype);
      EXPECT_EQ(x.scalar_type(), dtype);
      EXPECT_EQ(x.sizes(), g.sizes());
      auto sv = at::linalg_svdvals(x.to(torch::kFloat32));
      EXPECT_GT(sv.min().item<double>(), 0.5);
      EXPECT_LT(sv.max().item<double>(), 1.3);
    }
}

TEST(Muon, NewtonSchulzFlopsCountEveryMatmul) {
  // 64 x 256: per step X X^T (64, 256) x (256, 64), A A (64, 64) x (64, 64), B X (64, 64) x
  // (64, 256), 2 FLOPs per multiply-add; a tall matrix is transposed first.
  const int64_t per_step = 2 * 64 * 256 * 64 + 2 * 64 * 64 * 64 + 2 * 64 * 64 * 256;
  EXPECT_EQ(newton_schulz_flops(64, 256, 5), 5 * per_step);
  EXPECT_EQ(newton_schulz_flops(256, 64, 5), 5 * per_step);
  EXPECT_THROW(zeropower_via_newtonschulz5(torch::ones({4, 4}), 1, torch::kFloat16),
               std::invalid_argument);
}

TEST(Muon, RejectsNonMatrixParameters) {
  auto p = torch::zeros({4});
  EXPECT_THROW(Muon({{{p}, 0.02, 0.02}}, MuonOptions{}), std::invalid_argument);
}

}  // namespace
}  // namespace nt
