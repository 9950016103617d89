// Training-step throughput: forward + backward + AdamW/Muon step of nanochat's GPT, in tokens/s
// and MFU against a matmul peak measured in the same run and precision (the machine's own
// ceiling, so the ratio stays meaningful on a noisy or shared machine). Under ntrun the ranks
// train together with the distributed optimizers and rank 0 reports the whole world's rate.
// Model dtypes: float32, and bfloat16 where bf16 matmul is native (--bf16 forces it); Muon's
// Newton-Schulz precision as training's --muon_dtype (auto: bf16 where native).
// Usage: [build/bin/ntrun --standalone --nproc_per_node=N] build/bin/train_step_bench [--steps N]
//        [--bf16] [--muon_dtype auto|bfloat16|float32] [--no_overlap]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "model/gpt.h"
#include "optim/schedule.h"
#include "optim/setup.h"
#include "runtime/collectives.h"
#include "runtime/cpu_info.h"
#include "runtime/dist_env.h"
#include "runtime/peak_flops.h"
#include "runtime/precision.h"
#include "runtime/process.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Result {
  double tokens_per_second, flops_per_second;
};

Result time_training(int64_t depth, int64_t seq_len, int64_t batch, torch::ScalarType dtype,
                     int steps, nt::Collectives* collectives, bool overlap,
                     const nt::OptimizerConfig& optimizer_config) {
  nt::GPT model(nt::GPTConfig::from_depth(depth, seq_len, 50304));
  model->init_weights(0);
  model->set_compute_dtype(dtype);
  nt::Optimizers opt = nt::setup_optimizers(model, optimizer_config);
  opt.set_collectives(collectives);
  // As in training: gradients averaged during backward (unless --no_overlap).
  const auto reducer = nt::make_gradient_reducer(model, opt, overlap ? collectives : nullptr);
  const int world = collectives ? collectives->world_size() : 1;
  auto tokens = torch::randint(0, 50304, {batch, seq_len + 1}, torch::kInt64);
  auto inputs = tokens.narrow(1, 0, seq_len).contiguous();
  auto targets = tokens.narrow(1, 1, seq_len).contiguous();
  auto one_step = [&](int64_t step) {
    auto loss = model->forward(inputs, targets);
    if (reducer) reducer->prepare_backward(/*reduce=*/true);
    loss.backward();
    if (reducer) reducer->finish();
    opt.set_schedule(1.0, nt::muon_momentum(step));
    opt.step();
    opt.zero_grad();
  };
  one_step(0);  // warm-up: allocations, first-touch, optimizer state
  one_step(1);
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) one_step(2 + s);
  const double tps = world * batch * seq_len * steps / seconds_since(t0);
  return {tps, tps * static_cast<double>(model->estimate_flops())};
}

}  // namespace

int main(int argc, char** argv) {
  nt::use_passive_openmp_wait(argv);
  int steps = 5;
  bool bf16 = nt::bf16_matmul_native(torch::kCPU);
  bool overlap = true;
  nt::OptimizerConfig optimizer_config;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--muon_dtype") && i + 1 < argc)
      optimizer_config.muon_dtype = argv[++i];
    if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--bf16")) bf16 = true;
    if (!std::strcmp(argv[i], "--no_overlap")) overlap = false;
  }
  try {
    optimizer_config.validate();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_step_bench: %s\n", e.what());
    return 2;
  }
  const int threads = nt::configure_process();
  const nt::DistEnv env = nt::read_dist_env();
  const auto collectives = nt::init_process_group(env, nt::ProcessGroupOptions{});
  if (env.rank != 0) std::freopen("/dev/null", "w", stdout);  // rank 0 reports
  std::printf("ranks: %d, threads per rank: %d, cpu: %s, Muon's Newton-Schulz: %s\n",
              env.world_size, threads, nt::cpu_info().model_name.c_str(),
              nt::dtype_name(
                  nt::resolve_matmul_dtype(optimizer_config.muon_dtype, torch::kCPU, "muon_dtype"))
                  .c_str());
  // Per rank, measured by all ranks at once (they share the cores as in training).
  const double peak_fp32 = nt::measure_matmul_flops(torch::kFloat32, torch::kCPU);
  const double peak_bf16 = bf16 ? nt::measure_matmul_flops(torch::kBFloat16, torch::kCPU) : 0.0;
  std::printf("matmul peak per rank (2048^3): fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s\n\n",
              peak_fp32 / 1e9, peak_bf16 / 1e9);
  std::printf("| depth | seq | batch | dtype | tokens/s | GFLOP/s | MFU vs same-dtype peak |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  struct Case {
    int64_t depth, seq;
  } cases[] = {{4, 256}, {6, 512}};
  for (const auto& c : cases) {
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      if (dtype == torch::kBFloat16 && !bf16) continue;
      const auto r = time_training(c.depth, c.seq, 8, dtype, steps, collectives.get(), overlap,
                                   optimizer_config);
      const double peak = (dtype == torch::kFloat32 ? peak_fp32 : peak_bf16) * env.world_size;
      std::printf("| %ld | %ld | 8 | %s | %.0f | %.1f | %.1f%% |\n", c.depth, c.seq,
                  dtype == torch::kFloat32 ? "float32" : "bfloat16", r.tokens_per_second,
                  r.flops_per_second / 1e9, 100.0 * r.flops_per_second / peak);
      std::fflush(stdout);
    }
  }
  return 0;
}
