// One rank of the collectives test: joins the process group from torchrun's environment, runs
// every collective on fp32 and bf16 tensors whose sizes do not divide by the world size, and
// exits 0 only if every result equals the value worked out locally.
// With NT_TEST_STUCK_RANK=K (and a short timeout), rank K stops itself with SIGSTOP before a
// collective instead; every other rank exits 0 only if the collective fails naming rank K
// within the timeout.
#include <torch/torch.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/collectives.h"
#include "tests/support/worker_checks.h"

namespace {

// Timed from the barrier, so that start-up under a loaded machine does not count; the slack
// covers scheduling only.
constexpr std::chrono::seconds kStuckTimeout{6};
constexpr double kStuckSlackSeconds = 3.0;

int run_with_a_stuck_rank(nt::Collectives& coll, int stuck_rank) {
  coll.barrier();  // everyone is in; from here rank `stuck_rank` stops answering
  if (coll.rank() == stuck_rank) std::raise(SIGSTOP);
  auto t = torch::ones({4});
  const auto start = std::chrono::steady_clock::now();
  try {
    coll.all_reduce_sum(t);
  } catch (const std::runtime_error& e) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string message = e.what();
    std::fprintf(stderr, "%s\nfailed after %.2f s\n", message.c_str(), seconds);
    const std::string expected = stuck_rank == 0
                                     ? "the store on rank 0 did not answer: rank 0 is stuck or dead"
                                     : "; rank " + std::to_string(stuck_rank) + " did not reach it";
    const double limit = std::chrono::duration<double>(kStuckTimeout).count() + kStuckSlackSeconds;
    return message.find(expected) != std::string::npos && seconds < limit ? 0 : 1;
  }
  std::fprintf(stderr, "rank %d: all_reduce succeeded with rank %d stopped\n", coll.rank(),
               stuck_rank);
  return 1;
}

}  // namespace

int main() {
  const nt::DistEnv env = nt::read_dist_env();
  nt::ProcessGroupOptions options;
  const char* stuck_rank = std::getenv("NT_TEST_STUCK_RANK");
  options.timeout = stuck_rank ? kStuckTimeout : std::chrono::seconds(60);
  auto coll = nt::init_process_group(env, options);
  if (stuck_rank) return run_with_a_stuck_rank(*coll, std::atoi(stuck_rank));
  nt::testing::WorkerChecks checks(env.rank);
  const int r = env.rank, ws = env.world_size;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const std::string tag = dtype == torch::kFloat32 ? " fp32" : " bf16";
    auto base = torch::arange(7, torch::kFloat32);
    auto t = (base * (r + 1)).to(dtype);
    coll->all_reduce_mean(t);
    checks.expect(t.scalar_type() == dtype, "all_reduce keeps dtype" + tag);
    checks.expect(torch::equal(t.to(torch::kFloat32), base * ((ws + 1) / 2.0)),
                  "all_reduce_mean" + tag);
    auto s = (base * (r + 1)).to(dtype);
    coll->all_reduce_sum(s);
    checks.expect(torch::equal(s.to(torch::kFloat32), base * (ws * (ws + 1) / 2.0)),
                  "all_reduce_sum" + tag);

    const int64_t n = 10;  // shard 5/4/3 for 2/3/4 ranks: the last shards are short
    auto input = (torch::arange(n, torch::kFloat32) + 100.0 * r).to(dtype).view({2, 5});
    auto mine = coll->reduce_scatter_mean(input);
    const auto [begin, end] = coll->shard_range(n, r);
    auto expected =
        torch::arange(n, torch::kFloat32).narrow(0, begin, end - begin) + 100.0 * (ws - 1) / 2.0;
    checks.expect(mine.scalar_type() == dtype && mine.numel() == end - begin,
                  "reduce_scatter shard shape" + tag);
    checks.expect(torch::equal(mine.to(torch::kFloat32), expected), "reduce_scatter_mean" + tag);

    auto full = torch::arange(n, torch::kFloat32).to(dtype);
    auto gathered = coll->all_gather(full.narrow(0, begin, end - begin), n);
    checks.expect(torch::equal(gathered, full), "all_gather" + tag);

    auto b = torch::full({3, 3}, r, torch::kFloat32).to(dtype);
    coll->broadcast(b, ws - 1);
    checks.expect(torch::equal(b.to(torch::kFloat32), torch::full({3, 3}, ws - 1, torch::kFloat32)),
                  "broadcast" + tag);
  }
  coll->barrier();
  return checks.exit_code();
}
