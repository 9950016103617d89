// One rank of the distributed-optimizer test. Every rank feeds the same gradients, so the
// averaged gradient equals them exactly (for 2 and 4 ranks) and the sharded optimizers must
// match single-process ones bit for bit: parameters after each step, the gathered state dicts,
// the per-rank shards merged again (by every rank, and loaded by a single process), and runs
// that load a whole state dict or every rank's shards and continue.
// Then gradients averaged during backward (GradientReducer) against gradients averaged inside
// the optimizers' step, on data that differs by rank, with gradient accumulation: the same
// averages up to the order of the sums, equal on every rank, and at 2 ranks (where a + b and
// b + a are the same float) the same parameters bit for bit. Exits 0 only if all of that holds.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "optim/gradient_reducer.h"
#include "optim/schedule.h"
#include "optim/setup.h"
#include "tests/support/same_ivalue.h"
#include "tests/support/worker_checks.h"

namespace {

using nt::testing::same_ivalue;

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

// Every rank's shard_state_dicts(), in rank order, passed around as pickled bytes.
std::vector<c10::IValue> all_shards(const nt::Optimizers& optimizers, nt::Collectives& c) {
  const std::vector<char> mine = torch::pickle_save(optimizers.shard_state_dicts());
  std::vector<c10::IValue> shards;
  for (int r = 0; r < c.world_size(); ++r) {
    auto size =
        torch::full({1}, r == c.rank() ? static_cast<int64_t>(mine.size()) : 0, torch::kInt64);
    c.broadcast(size, r);
    auto bytes = torch::zeros({size.item<int64_t>()}, torch::kUInt8);
    if (r == c.rank()) std::memcpy(bytes.data_ptr(), mine.data(), mine.size());
    c.broadcast(bytes, r);
    const auto* data = reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>());
    shards.push_back(torch::pickle_load(std::vector<char>(data, data + bytes.numel())));
  }
  return shards;
}

// A fresh model holding `source`'s parameters.
nt::GPT copy_of(const nt::GPT& source) {
  nt::GPT model = make_model();
  torch::NoGradGuard no_grad;
  auto src = source->parameters(), dst = model->parameters();
  for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  return model;
}

bool same_params(const nt::GPT& a, const nt::GPT& b) {
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    if (!torch::equal(pa[i], pb[i])) return false;
  return true;
}

// A batch that differs by rank, step and micro-step.
std::pair<torch::Tensor, torch::Tensor> batch(int rank, int step, int micro) {
  auto gen = at::detail::createCPUGenerator(1000 * rank + 10 * step + micro);
  auto tokens = torch::randint(0, 50, {2, 17}, gen, torch::kInt64);
  return {tokens.narrow(1, 0, 16), tokens.narrow(1, 1, 16)};
}

void check_overlapped_reduction(nt::Collectives& coll, nt::testing::WorkerChecks& checks) {
  constexpr int kMicroSteps = 2;
  nt::GPT overlap_model = make_model(), step_model = make_model();
  nt::Optimizers overlap = nt::setup_optimizers(overlap_model, nt::OptimizerConfig{});
  nt::Optimizers in_step = nt::setup_optimizers(step_model, nt::OptimizerConfig{});
  overlap.set_collectives(&coll);
  in_step.set_collectives(&coll);
  overlap.set_gradients_averaged(true);
  // Buckets of about 4 KB: several parameters per bucket and several buckets.
  nt::GradientReducer reducer(overlap_model->parameters(), coll, 4096);
  checks.expect(reducer.num_buckets() > 2, "several buckets");
  for (int s = 0; s < 2; ++s) {
    // From the second step on, 4 ranks' parameters differ in the last bits (sums in another
    // order): then only the agreement across ranks is checked.
    const bool same_start = same_params(overlap_model, step_model);
    checks.expect(s == 0 || coll.world_size() != 2 || same_start, "same parameters at 2 ranks");
    for (int micro = 0; micro < kMicroSteps; ++micro) {
      auto [inputs, targets] = batch(coll.rank(), s, micro);
      reducer.prepare_backward(micro == kMicroSteps - 1);
      (overlap_model->forward(inputs, targets) / kMicroSteps).backward();
      (step_model->forward(inputs, targets) / kMicroSteps).backward();
    }
    reducer.finish();
    auto got = overlap_model->parameters(), local = step_model->parameters();
    for (size_t i = 0; i < got.size(); ++i) {
      auto expected = local[i].grad().clone();
      coll.all_reduce_mean(expected);
      // Two sums of the same world_size terms in different orders each err by at most
      // (world_size - 1) roundings of partial sums no larger than the sum of magnitudes (u =
      // 2^-24), then one more rounding when dividing by a world size that is not a power of 2.
      auto magnitude = local[i].grad().abs();
      coll.all_reduce_mean(magnitude);
      const double u = std::ldexp(1.0, -24);
      const auto bound = magnitude * (2.0 * (coll.world_size() - 1) * u) + expected.abs() * u;
      if (same_start)
        checks.expect((got[i].grad() - expected).abs().le(bound).all().item<bool>(),
                      "averaged gradient " + std::to_string(i) + " at step " + std::to_string(s));
      if (same_start && local[i].grad().abs().max().item<double>() > 0)  // 0 behind a 0 c_proj
        checks.expect(!torch::equal(got[i].grad(), local[i].grad()),
                      "gradient " + std::to_string(i) + " differs from this rank's own");
      auto rank0 = got[i].grad().clone();
      coll.broadcast(rank0, 0);
      checks.expect(torch::equal(rank0, got[i].grad()), "same averaged gradient on every rank");
    }
    overlap.set_schedule(1.0, nt::muon_momentum(s));
    in_step.set_schedule(1.0, nt::muon_momentum(s));
    overlap.step();
    in_step.step();
    overlap.zero_grad();
    in_step.zero_grad();
  }
  checks.expect(coll.world_size() != 2 || same_params(overlap_model, step_model),
                "same parameters at 2 ranks after the last step");
  // A parameter outside the loss never completes its bucket: a clear error on every rank.
  auto unused = torch::zeros({3}, torch::requires_grad());
  auto params = overlap_model->parameters();
  params.push_back(unused);
  nt::GradientReducer partial(params, coll, 1 << 20);
  auto [inputs, targets] = batch(coll.rank(), 9, 0);
  partial.prepare_backward(true);
  overlap_model->forward(inputs, targets).backward();
  try {
    partial.finish();
    checks.expect(false, "finish() with a parameter that received no gradient");
  } catch (const std::runtime_error& e) {
    checks.expect(
        std::string(e.what()).find("parameter 14 received no gradient") != std::string::npos,
        std::string("message names the parameter: ") + e.what());
  }
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

  // The sharded layout: each rank's own part, merged back whole, at any world size.
  const auto shards = all_shards(dist, *coll);
  checks.expect(same_ivalue(dist.merge_shard_state_dicts(shards, "shards"), ref.state_dicts()),
                "merged shards");
  nt::GPT single_model = copy_of(ref_model);
  nt::Optimizers single = nt::setup_optimizers(single_model, nt::OptimizerConfig{});
  single.load_state_dict_shards(shards, "shards");
  checks.expect(same_ivalue(single.state_dicts(), ref.state_dicts()),
                "shards loaded by a single process");
  nt::GPT from_shards_model = copy_of(ref_model);
  nt::Optimizers from_shards = nt::setup_optimizers(from_shards_model, nt::OptimizerConfig{});
  from_shards.set_collectives(coll.get());
  from_shards.load_state_dict_shards(shards, "shards");
  // A per-step snapshot: each rank loads only its own shard, with no communication.
  nt::GPT own_shard_model = copy_of(ref_model);
  nt::Optimizers own_shard = nt::setup_optimizers(own_shard_model, nt::OptimizerConfig{});
  own_shard.set_collectives(coll.get());
  own_shard.load_shard_state_dicts(dist.shard_state_dicts(), "own shard");
  // Another rank's shard has other shapes (AdamW) or parameters (Muon): refused, naming them.
  bool refused = false;
  try {
    nt::GPT other_model = copy_of(ref_model);
    nt::Optimizers other = nt::setup_optimizers(other_model, nt::OptimizerConfig{});
    other.set_collectives(coll.get());
    other.load_shard_state_dicts(shards[(env.rank + 1) % env.world_size], "other rank's shard");
  } catch (const std::invalid_argument& e) {
    refused = std::string(e.what()).find("other rank's shard") != std::string::npos;
  }
  checks.expect(refused, "another rank's shard refused");

  // A whole state dict loaded on every rank, each keeping its part, continues exactly.
  nt::GPT resumed_model = copy_of(ref_model);
  nt::Optimizers resumed = nt::setup_optimizers(resumed_model, nt::OptimizerConfig{});
  resumed.set_collectives(coll.get());
  resumed.load_state_dicts(ref.state_dicts(), "reference");
  for (const auto* model : {&resumed_model, &from_shards_model, &own_shard_model, &ref_model})
    fake_gradients(*model, 20);
  resumed.step();
  from_shards.step();
  own_shard.step();
  ref.step();
  checks.expect(same_params(resumed_model, ref_model), "parameters after resuming");
  checks.expect(same_params(from_shards_model, ref_model), "parameters after resuming shards");
  checks.expect(same_params(own_shard_model, ref_model), "parameters after loading own shards");
  check_overlapped_reduction(*coll, checks);
  return checks.exit_code();
}
