// One rank of the distributed-optimizer test. Every rank feeds the same gradients, so the
// averaged gradient equals them exactly (for 2 and 4 ranks) and the sharded optimizers must
// match single-process ones bit for bit: parameters after each step, the gathered state dicts,
// and a run that loads a whole state dict and continues. Exits 0 only if all of that holds.
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "optim/schedule.h"
#include "optim/setup.h"
#include "tests/support/worker_checks.h"

namespace {

nt::GPT make_model() {
  nt::GPT model(nt::GPTConfig::from_depth(2, 16, 50));
  model->init_weights(1);
  return model;
}

void fake_gradients(const nt::GPT& model, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : model->parameters())
    p.mutable_grad() = torch::empty(p.sizes()).normal_(0.0, 1.0, gen);
}

bool same_params(const nt::GPT& a, const nt::GPT& b) {
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    if (!torch::equal(pa[i], pb[i])) return false;
  return true;
}

// Every tensor of two state-dict trees equal, and the same structure.
bool same_ivalue(const c10::IValue& a, const c10::IValue& b) {
  if (a.isTensor()) return b.isTensor() && torch::equal(a.toTensor(), b.toTensor());
  if (a.isGenericDict()) {
    if (!b.isGenericDict() || a.toGenericDict().size() != b.toGenericDict().size()) return false;
    for (const auto& item : a.toGenericDict()) {
      auto it = b.toGenericDict().find(item.key());
      if (it == b.toGenericDict().end() || !same_ivalue(item.value(), it->value())) return false;
    }
    return true;
  }
  if (a.isList()) {
    if (!b.isList() || a.toListRef().size() != b.toListRef().size()) return false;
    for (size_t i = 0; i < a.toListRef().size(); ++i)
      if (!same_ivalue(a.toListRef()[i], b.toListRef()[i])) return false;
    return true;
  }
  return a == b;
}

}  // namespace

int main() {
  const nt::DistEnv env = nt::read_dist_env();
  auto coll = nt::init_process_group(env, nt::ProcessGroupOptions{});
  nt::testing::WorkerChecks checks(env.rank);
  nt::GPT dist_model = make_model(), ref_model = make_model();
  nt::Optimizers dist = nt::setup_optimizers(dist_model, nt::OptimizerConfig{});
  nt::Optimizers ref = nt::setup_optimizers(ref_model, nt::OptimizerConfig{});
  dist.set_collectives(coll.get());
  for (int s = 0; s < 3; ++s) {
    fake_gradients(dist_model, 10 + s);
    fake_gradients(ref_model, 10 + s);
    dist.set_schedule(1.0, nt::muon_momentum(s));
    ref.set_schedule(1.0, nt::muon_momentum(s));
    dist.step();
    ref.step();
    checks.expect(same_params(dist_model, ref_model), "parameters after step " + std::to_string(s));
  }
  const auto gathered = dist.state_dicts();
  checks.expect(same_ivalue(gathered, ref.state_dicts()), "gathered state dicts");

  // A whole state dict loaded on every rank, each keeping its part, continues exactly.
  nt::GPT resumed_model = make_model();
  {
    torch::NoGradGuard no_grad;
    auto src = ref_model->parameters(), dst = resumed_model->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  nt::Optimizers resumed = nt::setup_optimizers(resumed_model, nt::OptimizerConfig{});
  resumed.set_collectives(coll.get());
  resumed.load_state_dicts(ref.state_dicts(), "reference");
  fake_gradients(resumed_model, 20);
  fake_gradients(ref_model, 20);
  resumed.step();
  ref.step();
  checks.expect(same_params(resumed_model, ref_model), "parameters after resuming");
  return checks.exit_code();
}
