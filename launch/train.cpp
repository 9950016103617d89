// `nanotrain train`: nanochat's base_train loop on one process. The flow reads top to bottom:
// config -> data -> model -> optimizers -> steps.
#include <fmt/format.h>

#include <chrono>

#include "checkpoint/async_saver.h"
#include "checkpoint/retention.h"
#include "data/byte_text.h"
#include "launch/commands.h"
#include "launch/train.h"
#include "model/gpt.h"
#include "optim/schedule.h"
#include "optim/setup.h"
#include "runtime/config_io.h"
#include "runtime/log.h"

namespace nt {
namespace {

// Rank 0's checkpoint of `step` completed updates: model, [AdamW, Muon], nanochat's meta.
void save_step(const TrainConfig& cfg, int64_t step, const GPT& model, const Optimizers& optimizers,
               AsyncSaver* async_saver) {
  const nlohmann::json meta = {{"step", step},
                               {"model_config", config_to_json(model->config())},
                               {"user_config", config_to_json(cfg)},
                               {"device_batch_size", cfg.device_batch_size},
                               {"max_seq_len", cfg.max_seq_len}};
  const std::string dir = cfg.checkpoint_dir();
  if (async_saver)
    async_saver->save(dir, step, model_state_dict(model), optimizers.state_dicts(), meta);
  else
    save_checkpoint(dir, step, model_state_dict(model), optimizers.state_dicts(), meta);
  // Only complete steps are pruned, so a step still being written is never touched.
  if (cfg.keep_last > 0) prune_checkpoints(dir, cfg.keep_last);
}

}  // namespace

TrainResult train(const TrainConfig& cfg) {
  log0("config: {}", config_to_json(cfg).dump());
  if (cfg.device == "cuda" && !torch::cuda::is_available())
    throw std::invalid_argument("device: cuda requested, but this LibTorch sees no CUDA device");
  const torch::Device device(cfg.device);
  torch::manual_seed(cfg.seed);

  SequentialBatcher batches(encode_bytes(read_text_file(cfg.input)), cfg.device_batch_size,
                            cfg.max_seq_len);
  GPT model(GPTConfig::from_depth(cfg.depth, cfg.max_seq_len, kByteVocabSize));
  model->init_weights(cfg.seed);
  model->to(device);
  model->set_compute_dtype(cfg.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32);
  log0("model: depth {}, {} parameters, {:.3e} FLOPs per token", cfg.depth, model->num_params(),
       static_cast<double>(model->estimate_flops()));
  Optimizers optimizers = setup_optimizers(model, cfg.optim);
  const LrSchedule schedule{cfg.num_iterations, cfg.warmup_ratio, cfg.warmdown_ratio,
                            cfg.final_lr_frac};

  const int64_t tokens_per_step = cfg.device_batch_size * cfg.max_seq_len;
  std::unique_ptr<AsyncSaver> async_saver;
  if (cfg.async_save) async_saver = std::make_unique<AsyncSaver>();
  TrainResult result;
  double total_seconds = 0.0;
  for (int64_t step = 0; step < cfg.num_iterations; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    auto [inputs, targets] = batches.next();
    auto loss = model->forward(inputs.to(device), targets.to(device));
    loss.backward();
    optimizers.set_schedule(schedule.multiplier(step), muon_momentum(step));
    optimizers.step();
    optimizers.zero_grad();
    const double loss_value = loss.item<double>();  // also waits for the step to finish
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total_seconds += dt;
    result.losses.push_back(loss_value);
    log0(
        "step {:05d}/{:05d} ({:.2f}%) | loss: {:.6f} | lrm: {:.2f} | dt: {:.2f}ms | "
        "tok/sec: {} | total time: {:.2f}m",
        step + 1, cfg.num_iterations, 100.0 * (step + 1) / cfg.num_iterations, loss_value,
        schedule.multiplier(step), dt * 1e3,
        with_commas(static_cast<int64_t>(tokens_per_step / dt)), total_seconds / 60.0);
    const bool last = step + 1 == cfg.num_iterations;
    if (last || (cfg.save_every > 0 && (step + 1) % cfg.save_every == 0))
      save_step(cfg, step + 1, model, optimizers, async_saver.get());
  }
  if (async_saver) async_saver->wait();
  log0("checkpoint: {} (step {})", cfg.checkpoint_dir(), cfg.num_iterations);
  return result;
}

int train_command(const std::vector<std::string>& args) {
  train(parse_train_config(args));
  return 0;
}

}  // namespace nt
