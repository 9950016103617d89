// Optimizer state dicts: torch.optim's layout, a byte-level round trip that resumes exactly,
// and clear errors for dicts that do not fit.
#include <gtest/gtest.h>

#include "optim/schedule.h"
#include "optim/setup.h"
#include "tests/support/expect_error.h"

namespace nt {
namespace {

using testing::expect_error;

GPT tiny_model(uint64_t seed) {
  GPT model(GPTConfig::from_depth(2, 16, 50));
  model->init_weights(seed);
  return model;
}

// Random gradients for every parameter, the same for a given seed.
void fake_gradients(const GPT& model, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : model->parameters())
    p.mutable_grad() = torch::empty(p.sizes()).normal_(0.0, 1.0, gen);
}

c10::IValue through_bytes(const c10::IValue& value) {
  const auto bytes = torch::pickle_save(value);
  return torch::pickle_load(bytes);
}

TEST(OptimizerStateDict, HasTorchOptimLayout) {
  GPT model = tiny_model(1);
  Optimizers opt = setup_optimizers(model, OptimizerConfig{});
  fake_gradients(model, 5);
  opt.step();
  const auto adamw = opt.adamw->state_dict().toGenericDict();
  const auto groups = adamw.at("param_groups").toList();
  ASSERT_EQ(groups.size(), 2u);
  const auto g0 = groups.get(0).toGenericDict();
  const double scale = std::pow(128 / 768.0, -0.5);
  EXPECT_DOUBLE_EQ(g0.at("lr").toDouble(), 0.004 * scale);
  EXPECT_DOUBLE_EQ(g0.at("initial_lr").toDouble(), 0.004 * scale);
  EXPECT_EQ(g0.at("betas").toTupleRef().elements()[0].toDouble(), 0.8);
  EXPECT_EQ(g0.at("eps").toDouble(), 1e-10);
  EXPECT_EQ(g0.at("params").toIntVector(), std::vector<int64_t>{0});
  EXPECT_EQ(groups.get(1).toGenericDict().at("params").toIntVector(), std::vector<int64_t>{1});
  const auto state = adamw.at("state").toGenericDict();
  EXPECT_EQ(state.at(int64_t{0}).toGenericDict().at("step").toTensor().item<double>(), 1.0);

  const auto muon = opt.muon->state_dict().toGenericDict();
  const auto muon_groups = muon.at("param_groups").toList();
  // depth 2, C = 128: c_q/c_k/c_v/attn.c_proj are 128x128, c_fc and mlp.c_proj 512x128;
  // PyTorch numbers parameters group by group, so the 128x128 group holds ids 0-7.
  ASSERT_EQ(muon_groups.size(), 2u);
  const auto m0 = muon_groups.get(0).toGenericDict();
  EXPECT_EQ(m0.at("params").toIntVector(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(m0.at("momentum").toDouble(), 0.95);
  EXPECT_EQ(m0.at("nesterov").toBool(), true);
  EXPECT_EQ(m0.at("ns_steps").toInt(), 5);
  EXPECT_EQ(muon.at("state").toGenericDict().size(), 12u);
}

TEST(OptimizerStateDict, RoundTripThroughBytesResumesExactly) {
  GPT a = tiny_model(1);
  Optimizers opt_a = setup_optimizers(a, OptimizerConfig{});
  for (int s = 0; s < 2; ++s) {
    fake_gradients(a, 10 + s);
    opt_a.set_schedule(0.5 + s, muon_momentum(s));
    opt_a.step();
  }
  const auto saved = through_bytes(opt_a.state_dicts());

  GPT b = tiny_model(2);
  {
    torch::NoGradGuard no_grad;
    auto pa = a->parameters(), pb = b->parameters();
    for (size_t i = 0; i < pa.size(); ++i) pb[i].copy_(pa[i]);
  }
  Optimizers opt_b = setup_optimizers(b, OptimizerConfig{});
  opt_b.load_state_dicts(saved, "test");
  EXPECT_DOUBLE_EQ(opt_b.adamw->param_groups()[1].lr, opt_a.adamw->param_groups()[1].lr);

  fake_gradients(a, 20);
  fake_gradients(b, 20);
  opt_a.step();
  opt_b.step();
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << i;
}

TEST(OptimizerStateDict, MismatchesAreClearErrors) {
  GPT model = tiny_model(1);
  Optimizers opt = setup_optimizers(model, OptimizerConfig{});
  fake_gradients(model, 3);
  opt.step();
  const auto good = opt.adamw->state_dict();

  expect_error([&] { opt.adamw->load_state_dict(c10::IValue(3), "f.pt"); },
               "f.pt: expected a dict");
  expect_error([&] { opt.load_state_dicts(good, "f.pt"); },
               "f.pt: expected a list of two optimizer state dicts");
  // The Muon dict has two groups where AdamW expects two as well, but of other sizes.
  expect_error([&] { opt.adamw->load_state_dict(opt.muon->state_dict(), "f.pt"); },
               "f.pt: param_groups[0]: expected 1 params, found 8");

  auto bad_shape = through_bytes(good).toGenericDict();
  bad_shape.at("state")
      .toGenericDict()
      .at(int64_t{1})
      .toGenericDict()
      .insert_or_assign("exp_avg", torch::zeros({3, 3}));
  expect_error([&] { opt.adamw->load_state_dict(bad_shape, "f.pt"); },
               "f.pt: state[1]: key 'exp_avg': expected shape [64, 128], found [3, 3]");

  auto no_lr = through_bytes(good).toGenericDict();
  ASSERT_EQ(no_lr.at("param_groups").toList().get(0).toGenericDict().erase("lr"), 1u);
  expect_error([&] { opt.adamw->load_state_dict(no_lr, "f.pt"); },
               "f.pt: param_groups[0]: missing key 'lr'");

  // A failed load leaves the optimizer as it was.
  EXPECT_TRUE(torch::equal(opt.adamw->state_dict()
                               .toGenericDict()
                               .at("state")
                               .toGenericDict()
                               .at(int64_t{1})
                               .toGenericDict()
                               .at("exp_avg")
                               .toTensor(),
                           good.toGenericDict()
                               .at("state")
                               .toGenericDict()
                               .at(int64_t{1})
                               .toGenericDict()
                               .at("exp_avg")
                               .toTensor()));
}

}  // namespace
}  // namespace nt
