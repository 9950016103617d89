// The model and the optimizers on CUDA against the same computation on the CPU: forward and
// backward in fp32 (they differ by summation order only) and with bf16 matmuls (each side
// rounds every matmul's output to bf16), then two optimizer steps from the same gradients.
// Skipped where LibTorch sees no CUDA device (every CPU machine); scripts/gpu_check.sh runs it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "optim/setup.h"
#include "tests/support/tolerance.h"

namespace nt {
namespace {

constexpr int64_t kDepth = 2, kSeqLen = 64, kVocab = 512, kBatch = 4;

// A weight's gradient is a sum over tokens of (its input activation) x (the gradient arriving
// from above), so it gathers four roundings of the loss's size: the activation's (the forward
// pass), the arriving gradient's (the backward pass through the layers above, the same sums
// transposed), the loss gradient's (softmax minus the targets) and the sum over tokens itself.
constexpr double kGradientErrorSources = 4.0;

// ||a - b|| / ||b|| over the whole tensor (Frobenius), on the CPU: the error bounds below are
// norm-wise, unlike the max-based testing::relative_error of the CPU reference tests.
double relative_norm_error(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a.cpu() - b.cpu()).norm() / b.cpu().norm().clamp_min(1e-30)).item<double>();
}

class CudaMatchesCpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    // fp32 means fp32 on the GPU too: no TF32 matmuls.
    at::globalContext().setAllowTF32CuBLAS(false);
    torch::manual_seed(7);
    idx_ = torch::randint(kVocab, {kBatch, kSeqLen}, torch::kLong);
    targets_ = torch::randint(kVocab, {kBatch, kSeqLen}, torch::kLong);
    for (auto* model : {&cpu_, &cuda_}) {
      *model = GPT(GPTConfig::from_depth(kDepth, kSeqLen, kVocab));
      (*model)->init_weights(42);  // the same weights on both
    }
    cuda_->to(torch::kCUDA);
  }

  // Forward and backward on both; returns the two losses.
  std::pair<double, double> forward_backward(torch::ScalarType dtype) {
    cpu_->set_compute_dtype(dtype);
    cuda_->set_compute_dtype(dtype);
    auto loss_cpu = cpu_->forward(idx_, targets_);
    auto loss_cuda = cuda_->forward(idx_.cuda(), targets_.cuda());
    loss_cpu.backward();
    loss_cuda.backward();
    return {loss_cpu.item<double>(), loss_cuda.item<double>()};
  }

  torch::Tensor idx_, targets_;
  GPT cpu_{nullptr}, cuda_{nullptr};
};

TEST_F(CudaMatchesCpu, Float32ForwardAndBackward) {
  const auto [cpu, cuda] = forward_backward(torch::kFloat32);
  const double bound = testing::weight_gradient_error(kBatch * kSeqLen, cpu_->config().n_embd);
  EXPECT_LT(std::abs(cpu - cuda) / cpu, bound);
  const auto cuda_params = cuda_->named_parameters();
  for (const auto& item : cpu_->named_parameters())
    EXPECT_LT(relative_norm_error(cuda_params[item.key()].grad(), item.value().grad()),
              kGradientErrorSources * bound)
        << item.key();
}

TEST_F(CudaMatchesCpu, Bfloat16ForwardAndBackward) {
  const auto [cpu, cuda] = forward_backward(torch::kBFloat16);
  // Every matmul output is rounded to bf16 (u = 2^-8) on each side, and a layer's rounding
  // reaches the loss through the layers after it: a few u per layer, for each of the two sides.
  const double u = testing::unit_roundoff(torch::kBFloat16);
  const double bound = 2.0 * 4.0 * (kDepth + 1) * u;
  EXPECT_LT(std::abs(cpu - cuda) / cpu, bound);
  const auto cuda_params = cuda_->named_parameters();
  for (const auto& item : cpu_->named_parameters())
    EXPECT_LT(relative_norm_error(cuda_params[item.key()].grad(), item.value().grad()),
              kGradientErrorSources * bound)
        << item.key();
}

// Two optimizer steps from the same gradients on both sides, so that only the optimizers'
// arithmetic differs.
void expect_the_same_steps(GPT& cpu, GPT& cuda, const std::string& muon_dtype) {
  const auto cuda_params = cuda->named_parameters();
  for (const auto& item : cpu->named_parameters())
    cuda_params[item.key()].mutable_grad() = item.value().grad().cuda();
  OptimizerConfig config;
  config.muon_dtype = muon_dtype;
  auto opt_cpu = setup_optimizers(cpu, config);
  auto opt_cuda = setup_optimizers(cuda, config);
  for (int step = 0; step < 2; ++step) {
    opt_cpu.step();
    opt_cuda.step();
  }
  const double ns = testing::newton_schulz_tolerance(opt_cpu.muon->options().ns_dtype,
                                                     opt_cpu.muon->options().ns_steps,
                                                     testing::unit_roundoff(torch::kFloat));
  const auto matrices = cpu->matrix_params();
  for (const auto& item : cpu->named_parameters()) {
    const auto& p = item.value();
    const bool muon = std::any_of(matrices.begin(), matrices.end(),
                                  [&](const torch::Tensor& m) { return m.is_same(p); });
    const double diff = (cuda_params[item.key()].cpu() - p).norm().item<double>();
    if (muon)
      EXPECT_LT(diff, testing::muon_weight_tolerance(p.size(0), p.size(1), config.matrix_lr, 2, ns))
          << muon_dtype << " " << item.key();
    else  // AdamW: elementwise, a few roundings per element and step
      EXPECT_LT(diff / p.norm().item<double>(), 16 * testing::unit_roundoff(torch::kFloat))
          << muon_dtype << " " << item.key();
  }
}

TEST_F(CudaMatchesCpu, OptimizersTakeTheSameStepsWithNewtonSchulzInFloat32) {
  forward_backward(torch::kFloat32);
  expect_the_same_steps(cpu_, cuda_, "float32");
}

TEST_F(CudaMatchesCpu, OptimizersTakeTheSameStepsWithNewtonSchulzInBfloat16) {
  forward_backward(torch::kFloat32);
  expect_the_same_steps(cpu_, cuda_, "bfloat16");
}

}  // namespace
}  // namespace nt
