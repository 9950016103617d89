// all_reduce bandwidth across processes (Gloo on loopback) from 1 KB to 256 MB, reported as
// nccl-tests do: algbw = bytes / time, busbw = algbw * 2 (n - 1) / n, beside the memcpy bandwidth
// of the same machine measured in the same run.
// Usage: build/bin/ntrun --standalone --nproc_per_node=2 build/bin/collectives_bench
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include <torch/torch.h>

#include "runtime/collectives.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double memcpy_gbps() {
  const size_t n = 256u << 20;
  std::vector<char> a(n, 1), b(n, 0);
  std::memcpy(b.data(), a.data(), n);  // first touch
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), n);
    best = std::min(best, seconds_since(t0));
  }
  return n / best / 1e9;
}

}  // namespace

int main() {
  const nt::DistEnv env = nt::read_dist_env();
  auto coll = nt::init_process_group(env, nt::ProcessGroupOptions{});
  if (!coll) {
    std::fprintf(stderr, "collectives_bench: run it under ntrun with 2 or more processes\n");
    return 1;
  }
  const int ws = coll->world_size();
  const double copy = env.rank == 0 ? memcpy_gbps() : 0.0;
  if (env.rank == 0) {
    std::printf("world size %d, memcpy %.2f GB/s (256 MB, best of 5)\n\n", ws, copy);
    std::printf(
        "| size | time | algbw GB/s | busbw GB/s | busbw / memcpy |\n|---|---|---|---|---|\n");
  }
  for (int64_t bytes = 1024; bytes <= (256 << 20); bytes *= 4) {
    auto t = torch::ones({bytes / 4}, torch::kFloat32);
    const int iters =
        static_cast<int>(std::max<int64_t>(3, std::min<int64_t>(200, (64 << 20) / bytes)));
    coll->all_reduce_sum(t);  // warm-up
    coll->barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) coll->all_reduce_sum(t);
    const double s = seconds_since(t0) / iters;
    const double algbw = bytes / s / 1e9, busbw = algbw * 2.0 * (ws - 1) / ws;
    if (env.rank == 0) {
      const std::string size = bytes >= (1 << 20) ? std::to_string(bytes >> 20) + " MB"
                                                  : std::to_string(bytes >> 10) + " KB";
      std::printf("| %s | %.1f us | %.3f | %.3f | %.3f |\n", size.c_str(), s * 1e6, algbw, busbw,
                  busbw / copy);
      std::fflush(stdout);
    }
  }
  return 0;
}
