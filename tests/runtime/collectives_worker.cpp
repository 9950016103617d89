// One rank of the collectives test: joins the process group from torchrun's environment, runs
// every collective on fp32 and bf16 tensors whose sizes do not divide by the world size, and
// exits 0 only if every result equals the value worked out locally.
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "runtime/collectives.h"

namespace {

int failures = 0;

void check(bool ok, const std::string& what, int rank) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: FAILED %s\n", rank, what.c_str());
    ++failures;
  }
}

}  // namespace

int main() {
  const nt::DistEnv env = nt::read_dist_env();
  nt::ProcessGroupOptions options;
  options.timeout = std::chrono::seconds(60);
  auto coll = nt::init_process_group(env, options);
  const int r = env.rank, ws = env.world_size;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const std::string tag = dtype == torch::kFloat32 ? " fp32" : " bf16";
    auto base = torch::arange(7, torch::kFloat32);
    auto t = (base * (r + 1)).to(dtype);
    coll->all_reduce_mean(t);
    check(t.scalar_type() == dtype, "all_reduce keeps dtype" + tag, r);
    check(torch::equal(t.to(torch::kFloat32), base * ((ws + 1) / 2.0)), "all_reduce_mean" + tag, r);
    auto s = (base * (r + 1)).to(dtype);
    coll->all_reduce_sum(s);
    check(torch::equal(s.to(torch::kFloat32), base * (ws * (ws + 1) / 2.0)), "all_reduce_sum" + tag,
          r);

    const int64_t n = 10;  // shard 5/4/3 for 2/3/4 ranks: the last shards are short
    auto input = (torch::arange(n, torch::kFloat32) + 100.0 * r).to(dtype).view({2, 5});
    auto mine = coll->reduce_scatter_mean(input);
    const auto [begin, end] = coll->shard_range(n, r);
    auto expected =
        torch::arange(n, torch::kFloat32).narrow(0, begin, end - begin) + 100.0 * (ws - 1) / 2.0;
    check(mine.scalar_type() == dtype && mine.numel() == end - begin,
          "reduce_scatter shard shape" + tag, r);
    check(torch::equal(mine.to(torch::kFloat32), expected), "reduce_scatter_mean" + tag, r);

    auto full = torch::arange(n, torch::kFloat32).to(dtype);
    auto gathered = coll->all_gather(full.narrow(0, begin, end - begin), n);
    check(torch::equal(gathered, full), "all_gather" + tag, r);

    auto b = torch::full({3, 3}, r, torch::kFloat32).to(dtype);
    coll->broadcast(b, ws - 1);
    check(torch::equal(b.to(torch::kFloat32), torch::full({3, 3}, ws - 1, torch::kFloat32)),
          "broadcast" + tag, r);
  }
  coll->barrier();
  if (failures == 0) std::printf("rank %d: ok\n", r);
  return failures == 0 ? 0 : 1;
}
