// AdamW against torch.optim.AdamW: three steps, two groups with their own LRs, weight decay.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "optim/adamw.h"
#include "tests/support/tensor_bundle.h"

namespace nt {
namespace {

TEST(AdamW, ThreeStepsMatchTorchOptimAdamW) {
  const auto ref = testing::TensorBundle::load_reference("optim.safetensors");
  std::vector<torch::Tensor> params = {ref.at("adamw.init.0").clone().requires_grad_(),
                                       ref.at("adamw.init.1").clone().requires_grad_()};
  AdamWOptions options;
  options.weight_decay = 0.1;
  AdamW opt({{{params[0]}, 0.01, 0.01}, {{params[1]}, 0.2, 0.2}}, options);
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 2; ++i)
      params[i].mutable_grad() = ref.at(fmt::format("adamw.grad.{}.{}", s, i)).clone();
    opt.step();
  }
  const auto state = opt.state_dict().toGenericDict().at("state").toGenericDict();
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(torch::allclose(params[i], ref.at(fmt::format("adamw.final.{}", i)), 1e-6, 1e-7))
        << "param " << i;
    const auto st = state.at(static_cast<int64_t>(i)).toGenericDict();
    for (const char* key : {"step", "exp_avg", "exp_avg_sq"}) {
      const auto expected = ref.at(fmt::format("adamw.state.{}.{}", i, key));
      EXPECT_TRUE(torch::allclose(st.at(key).toTensor().reshape(-1), expected, 1e-6, 1e-8))
          << "param " << i << " " << key;
    }
  }
}

TEST(AdamW, SkipsParametersWithoutGradient) {
  auto p = torch::ones({3}).requires_grad_();
  AdamW opt({{{p}, 0.1, 0.1}}, AdamWOptions{});
  opt.step();
  EXPECT_TRUE(torch::equal(p, torch::ones({3})));
  EXPECT_EQ(opt.state_dict().toGenericDict().at("state").toGenericDict().size(), 0u);
}

TEST(AdamW, ZeroGradDropsGradients) {
  auto p = torch::ones({3}).requires_grad_();
  p.mutable_grad() = torch::ones({3});
  AdamW opt({{{p}, 0.1, 0.1}}, AdamWOptions{});
  opt.zero_grad();
  EXPECT_FALSE(p.grad().defined());
}

}  // namespace
}  // namespace nt
