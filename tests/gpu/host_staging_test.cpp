// HostStaging: CPU tensors pass through untouched (every machine); CUDA tensors land in pinned
// host buffers that hold the values once synchronize() returns and are reused while the shapes
// stay (skipped without a CUDA device; scripts/gpu_check.sh runs gpu_tests on a GPU).
#include "checkpoint/host_staging.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace nt {
namespace {

c10::IValue state_on(torch::Device device) {
  torch::manual_seed(3);
  c10::impl::GenericDict state(c10::StringType::get(), c10::AnyType::get());
  state.insert("weight", torch::randn({33, 17}).to(device));
  state.insert("step", int64_t{5});
  c10::impl::GenericList moments(c10::AnyType::get());
  moments.push_back(torch::randn({8}).to(device));
  moments.push_back(torch::randn({4, 4}).to(device).t());  // not contiguous
  state.insert("moments", moments);
  return state;
}

std::vector<torch::Tensor> tensors_of(const c10::IValue& state) {
  const auto dict = state.toGenericDict();
  const auto moments = dict.at("moments").toListRef();
  return {dict.at("weight").toTensor(), moments[0].toTensor(), moments[1].toTensor()};
}

TEST(HostStaging, CpuTensorsPassThroughUntouched) {
  HostStaging staging;
  const c10::IValue state = state_on(torch::kCPU);
  const c10::IValue staged = staging.stage(state);
  staging.synchronize();
  const auto before = tensors_of(state), after = tensors_of(staged);
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_EQ(after[i].data_ptr(), before[i].data_ptr()) << "tensor " << i << " was copied";
  EXPECT_EQ(staged.toGenericDict().at("step").toInt(), 5);
}

TEST(HostStaging, CudaTensorsLandInReusedPinnedBuffers) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  HostStaging staging;
  const c10::IValue state = state_on(torch::kCUDA);
  const c10::IValue staged = staging.stage(state);
  staging.synchronize();
  const auto device = tensors_of(state), host = tensors_of(staged);
  for (size_t i = 0; i < device.size(); ++i) {
    EXPECT_TRUE(host[i].device().is_cpu());
    EXPECT_TRUE(host[i].is_pinned());
    EXPECT_TRUE(torch::equal(host[i], device[i].cpu())) << "tensor " << i;
  }
  // The next step's values, through the same buffers.
  for (auto& t : device) t.mul_(2);
  const auto again = tensors_of(staging.stage(state));
  staging.synchronize();
  for (size_t i = 0; i < device.size(); ++i) {
    EXPECT_EQ(again[i].data_ptr(), host[i].data_ptr()) << "tensor " << i << ": a new buffer";
    EXPECT_TRUE(torch::equal(again[i], device[i].cpu())) << "tensor " << i;
  }
}

}  // namespace
}  // namespace nt
