// `nanotrain train`: nanochat's base_train loop, on one process or many under ntrun/torchrun.
// The flow reads top to bottom: config -> process group -> data -> model -> optimizers ->
// resume -> steps (gradients averaged across ranks during backward, the optimizers' state
// sharded across them; the Checkpointer decides when to save and who writes, and copies each
// step's state into memory while the next step computes).
#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "checkpoint/checkpointer.h"
#include "data/token_loader.h"
#include "data/token_shard.h"
#include "data/tokenizer.h"
#include "model/gpt.h"
#include "optim/schedule.h"
#include "optim/setup.h"
#include "runtime/collectives.h"
#include "runtime/config_io.h"
#include "runtime/log.h"
#include "runtime/precision.h"
#include "runtime/preemption.h"
#include "runtime/process.h"
#include "trainer/evaluate.h"
#include "trainer/metrics.h"
#include "trainer/mfu.h"
#include "trainer/train.h"

namespace nt {
namespace {

// nanochat's horizon: num_iterations, else target_flops / (FLOPs per token * tokens per step),
// else target_param_data_ratio * params / tokens per step.
int64_t resolve_num_iterations(const TrainConfig& cfg, const GPT& model, int64_t total_batch) {
  if (cfg.num_iterations > 0) return cfg.num_iterations;
  const double tokens =
      cfg.target_flops > 0 ? cfg.target_flops / static_cast<double>(model->estimate_flops())
                           : cfg.target_param_data_ratio * static_cast<double>(model->num_params());
  const auto n = static_cast<int64_t>(std::llround(tokens / static_cast<double>(total_batch)));
  log0("num_iterations derived from the {}: {}",
       cfg.target_flops > 0 ? "target FLOPs" : "target param:data ratio", std::max<int64_t>(n, 1));
  return std::max<int64_t>(n, 1);
}

}  // namespace

TrainResult train(const TrainConfig& requested) {
  // A signal while loading is a preemption too: it stops the job before the first step.
  install_preemption_handlers();
  log0("config: {}", config_to_json(requested).dump());
  const bool cuda = requested.device_type() == torch::kCUDA;
  if (cuda && !torch::cuda::is_available())
    throw std::invalid_argument("device: cuda requested, but this LibTorch sees no CUDA device");
  const DistEnv env = read_dist_env();
  // cuda:LOCAL_RANK, as torchrun's scripts take it: one GPU per local rank, never shared.
  if (cuda && env.local_rank >= static_cast<int>(torch::cuda::device_count()))
    throw std::invalid_argument(fmt::format(
        "device: local rank {} trains on cuda:{}, but this process sees {} CUDA device(s): "
        "start at most one rank per GPU (--nproc_per_node, CUDA_VISIBLE_DEVICES)",
        env.local_rank, env.local_rank, torch::cuda::device_count()));
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, env.local_rank) : torch::kCPU;
  TrainConfig cfg = requested;  // with "auto" resolved for this hardware, as meta records it
  cfg.optim.muon_dtype =
      dtype_name(resolve_matmul_dtype(requested.optim.muon_dtype, device, "muon_dtype"));
  ProcessGroupOptions pg_options;
  pg_options.backend = cuda ? "nccl" : "gloo";
  pg_options.timeout = std::chrono::milliseconds(std::llround(cfg.collective_timeout * 1000));
  const auto collectives = init_process_group(env, pg_options);
  if (env.distributed())
    log0("world: {} ranks ({} per node) from {}'s environment, store at {}:{} hosted by {}",
         env.world_size, env.local_world_size, env.source, env.master_addr, env.master_port,
         env.agent_store ? "the launcher" : "rank 0");
  Checkpointer checkpointer(cfg.checkpointer_options(env), env.rank, env.world_size,
                            collectives.get());
  if (cfg.deterministic) use_deterministic_algorithms();
  torch::manual_seed(cfg.seed);

  // Data from `nanotrain prepare`: the tokenizer and shards, the last shard held out.
  const Tokenizer tokenizer = Tokenizer::from_dir(get_tokenizer_dir());
  const std::string tokenizer_crc32c = tokenizer.crc32c();
  const TokenShardFiles shards =
      list_token_shards(cfg.token_data_dir(), tokenizer.vocab_size(), tokenizer_crc32c);
  DistributedTokenLoader loader(shards.train, cfg.device_batch_size, cfg.max_seq_len, env.rank,
                                env.world_size, static_cast<uint64_t>(cfg.seed),
                                shards.train_crc32c);
  // An evaluation reads at most max(eval_tokens, one batch) + 1 tokens from the shard's start.
  const torch::Tensor val_tokens = read_token_shard(
      shards.val, std::max(cfg.eval_tokens, cfg.device_batch_size * cfg.max_seq_len) + 1,
      shards.val_crc32c);
  if (cfg.eval_every > 0 && val_tokens.size(0) < cfg.device_batch_size * cfg.max_seq_len + 1)
    throw std::invalid_argument(
        fmt::format("{}: the validation shard holds {} tokens, fewer than one evaluation batch "
                    "(device_batch_size {} * max_seq_len {} + 1)",
                    shards.val, val_tokens.size(0), cfg.device_batch_size, cfg.max_seq_len));
  const torch::Tensor token_bytes = torch::tensor(tokenizer.token_bytes(), torch::kInt32);
  const GPTConfig from_depth =
      GPTConfig::from_depth(cfg.depth, cfg.max_seq_len, tokenizer.vocab_size());
  const auto resume_point = checkpointer.find_resume(
      parse_resume_from_step(cfg.resume_from_step, env.restarted()),
      {from_depth, cfg.max_seq_len, get_tokenizer_dir(), tokenizer.vocab_size(), tokenizer_crc32c});
  GPT model(resume_point ? resume_point->model_config : from_depth);
  model->init_weights(cfg.seed);
  model->to(device);
  model->set_compute_dtype(cfg.compute_dtype());
  Optimizers optimizers = setup_optimizers(model, cfg.optim);
  log_precision(device, model->compute_dtype(), optimizers.muon->options().ns_dtype);
  optimizers.set_collectives(collectives.get());                 // state sharded across ranks
  const int64_t rows = cfg.device_batch_size * cfg.max_seq_len;  // per rank and micro-step
  const int64_t micro_batch = env.world_size * rows;
  const int64_t total_batch = cfg.total_batch_size > 0 ? cfg.total_batch_size : micro_batch;
  if (total_batch % micro_batch != 0)
    throw std::invalid_argument(fmt::format(
        "total_batch_size {} is not a multiple of device_batch_size * max_seq_len * world_size "
        "= {} * {} * {} = {}",
        total_batch, cfg.device_batch_size, cfg.max_seq_len, env.world_size, micro_batch));
  const int64_t grad_accum_steps = total_batch / micro_batch;
  const int64_t num_iterations = resolve_num_iterations(cfg, model, total_batch);
  // All ranks measure their peaks at once, sharing the cores as they will in training.
  if (collectives) collectives->barrier();
  const MfuMeter mfu_meter(model, *optimizers.muon, total_batch, rows, env.world_size, device,
                           cfg.peak_flops, checkpointer.restart_cache_file());
  if (!mfu_meter.bf16_warning().empty()) log0("warning: {}", mfu_meter.bf16_warning());
  log0("model: depth {}, {} parameters, {:.3e} FLOPs per token; {} rank(s); MFU against {}",
       model->config().n_layer, model->num_params(), static_cast<double>(model->estimate_flops()),
       env.world_size, mfu_meter.describe());
  const LrSchedule schedule{num_iterations, cfg.warmup_ratio, cfg.warmdown_ratio,
                            cfg.final_lr_frac};
  TrainState state;
  if (resume_point) state = checkpointer.load(*resume_point, model, optimizers, loader, device);
  const nlohmann::json run_meta = {{"model_config", config_to_json(model->config())},
                                   {"tokenizer_crc32c", tokenizer_crc32c},
                                   {"user_config", config_to_json(cfg)},
                                   {"device_batch_size", cfg.device_batch_size},
                                   {"max_seq_len", cfg.max_seq_len}};
  // Distributed, gradients are averaged during backward, bucket by bucket, as under DDP.
  const auto reducer = make_gradient_reducer(model, optimizers, collectives.get());

  // A fresh run logs step 0's evaluation; a resumed one starts after its checkpoint's step.
  MetricsLog metrics(env.rank == 0 ? cfg.checkpoint_dir() : "", cfg.tensorboard_path(),
                     state.step == 0 ? 0 : state.step + 1);
  auto evaluate = [&] {
    state.val_bpb = evaluate_bpb(model, val_tokens, token_bytes, cfg.device_batch_size,
                                 cfg.max_seq_len, cfg.eval_tokens, collectives.get(), device);
    if (state.min_val_bpb < 0 || state.val_bpb < state.min_val_bpb)
      state.min_val_bpb = state.val_bpb;
    log0("step {:05d} | val bpb: {:.6f}", state.step, state.val_bpb);
    metrics.append({{"step", state.step}, {"val_bpb", state.val_bpb}});
  };
  metrics.append({{"run", cfg.run}, {"step", state.step}, {"event", "start"}});
  if (state.step == 0 && cfg.eval_every > 0) evaluate();
  TrainResult result;
  if (on_any_rank(preemption_signal() != 0, collectives.get())) {
    log0("preempted while loading, before step {}: nothing new to save, stopping", state.step + 1);
    result.preempted = true;
    return result;
  }
  const int64_t first_step = state.step;
  double run_seconds = 0.0;  // this process's share of total_training_time, for the ETA
  for (int64_t step = state.step; step < num_iterations; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    auto loss_sum = torch::zeros({}, torch::TensorOptions(device));
    for (int64_t micro = 0; micro < grad_accum_steps; ++micro) {
      auto [inputs, targets] = loader.next();
      auto loss = model->forward(inputs.to(device), targets.to(device));
      if (reducer) reducer->prepare_backward(/*reduce=*/micro == grad_accum_steps - 1);
      (loss / grad_accum_steps).backward();
      loss_sum += loss.detach();
    }
    if (reducer) reducer->finish();
    checkpointer.wait_for_snapshot();  // the previous step's copy reads what step() changes
    const double lrm = schedule.multiplier(step);
    optimizers.set_schedule(lrm, muon_momentum(step));
    optimizers.step();
    optimizers.zero_grad();
    // The mean over micro-steps; reading it also waits for the step to finish.
    const double loss_value = loss_sum.item<double>() / grad_accum_steps;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double mfu = mfu_meter.mfu(dt);
    state.step = step + 1;
    state.total_training_time += dt;
    state.smooth_train_loss = 0.9 * state.smooth_train_loss + 0.1 * loss_value;
    result.losses.push_back(loss_value);
    metrics.append({{"step", state.step},
                    {"loss", loss_value},
                    {"smooth_loss", state.smooth_train_loss / (1 - std::pow(0.9, state.step))},
                    {"lrm", lrm},
                    {"dt", dt},
                    {"tok_per_sec", total_batch / dt},
                    {"mfu", mfu}});
    run_seconds += dt;
    log0(
        "step {:05d}/{:05d} ({:.2f}%) | loss: {:.6f} | lrm: {:.2f} | dt: {:.2f}ms | "
        "tok/sec: {} | mfu: {:.2f} | total time: {:.2f}m | eta: {:.1f}m",
        step + 1, num_iterations, 100.0 * (step + 1) / num_iterations, loss_value, lrm, dt * 1e3,
        with_commas(static_cast<int64_t>(total_batch / dt)), mfu, state.total_training_time / 60,
        run_seconds / (step + 1 - first_step) * (num_iterations - step - 1) / 60);
    // Every rank asks after every step, so all agree on stopping.
    result.preempted = on_any_rank(preemption_signal() != 0, collectives.get());
    const bool last = step + 1 == num_iterations || result.preempted;
    if (cfg.eval_every > 0 && (last || state.step % cfg.eval_every == 0)) evaluate();
    checkpointer.maybe_save(state, model, optimizers, loader, run_meta, /*force=*/last);
    if (!last) checkpointer.maybe_snapshot(state, model, optimizers, loader, run_meta);
    if (result.preempted) {
      log0("preempted: saved step {}, stopping", state.step);
      break;
    }
  }
  checkpointer.finish();
  log0("checkpoint: {} (step {})", cfg.checkpoint_dir(), state.step);
  return result;
}

}  // namespace nt
