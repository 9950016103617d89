// The configuration of `nanotrain train`: nanochat base_train's flag names, documented
// defaults, read from a JSON file (--config) and then overridden by command-line flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "optim/setup.h"
#include "runtime/dist_env.h"

namespace nt {

struct CheckpointerOptions;

struct TrainConfig {
  // Defaults here; the meaning of each field is its help text in visit().
  std::string run = "dummy";
  std::string data_dir;
  int64_t depth = 4;
  int64_t max_seq_len = 256;
  int64_t device_batch_size = 8;
  int64_t total_batch_size = -1;
  int64_t num_iterations = 30;
  double target_flops = -1.0;
  double target_param_data_ratio = -1.0;
  OptimizerConfig optim;
  double warmup_ratio = 0.0;
  double warmdown_ratio = 0.2;
  double final_lr_frac = 0.0;
  std::string device = "cpu";
  std::string dtype = "float32";
  int64_t seed = 42;
  bool deterministic = false;
  double peak_flops = -1.0;
  std::string model_tag;
  int64_t eval_every = 250;
  int64_t eval_tokens = 65536;
  int64_t save_every = 0;
  int64_t keep_last = -1;
  bool async_save = false;
  std::string checkpoint_layout = "gathered";
  std::string on_save_error = "stop";
  std::string resume_from_step = "";  // unset: -1, or auto when the job was restarted
  bool prune_abandoned = false;
  int64_t snapshot_every = -1;  // -1: 1 when the launcher may restart the workers, else 0
  std::string snapshot_dir = "/dev/shm";
  double collective_timeout = 600.0;
  std::string tensorboard_dir = "auto";

  template <class V>
  void visit(V&& v) {
    v("run", run, "run name, recorded in metrics.jsonl");
    v("data_dir", data_dir, "token shards from `nanotrain prepare`; \"\": <base_dir>/base_data");
    v("depth", depth, "model depth; width 64*depth, as nanochat's GPTConfig sizing");
    v("max_seq_len", max_seq_len, "tokens per sequence");
    v("device_batch_size", device_batch_size, "sequences per rank per micro-step");
    v("total_batch_size", total_batch_size,
      "tokens per optimizer step (gradient accumulation); -1: one micro-step on every rank");
    v("num_iterations", num_iterations,
      "optimizer steps; -1: from target_flops or target_param_data_ratio");
    v("target_flops", target_flops, "total training FLOPs, when num_iterations is -1");
    v("target_param_data_ratio", target_param_data_ratio,
      "tokens per parameter (Chinchilla: 20), when num_iterations is -1");
    optim.visit(v);
    v("warmup_ratio", warmup_ratio, "share of the steps warming the LR up");
    v("warmdown_ratio", warmdown_ratio, "share of the steps decaying the LR at the end");
    v("final_lr_frac", final_lr_frac, "LR multiplier at the last step");
    v("device", device, "cpu | cuda");
    v("dtype", dtype, "matmul compute dtype: float32 | bfloat16 (weights stay fp32)");
    v("seed", seed, "model init and data order");
    v("deterministic", deterministic, "deterministic kernels only (CUDA: bit-exact resume)");
    v("peak_flops", peak_flops,
      "FLOP/s per rank that MFU divides by; -1: H100 bf16 on CUDA, a measured peak on CPU");
    v("model_tag", model_tag, "checkpoint folder name; \"\": d<depth>");
    v("eval_every", eval_every, "val bpb every N steps (and at 0 and the end); -1: never");
    v("eval_tokens", eval_tokens, "validation tokens per evaluation, all ranks together");
    v("save_every", save_every, "save every N steps; 0: as eval_every; -1: last step only");
    v("keep_last", keep_last, "keep the newest K steps; -1: keep all");
    v("async_save", async_save, "write checkpoints on background threads while training goes on");
    v("checkpoint_layout", checkpoint_layout,
      "gathered: rank 0 writes nanochat's files | sharded: every rank writes its part");
    v("on_save_error", on_save_error, "a failed save (disk full, ...): stop | continue");
    v("resume_from_step", resume_from_step,
      "-1: start fresh | auto: the last complete step | N | unset: -1, or auto when the "
      "launcher restarted the workers or Slurm requeued the job");
    v("prune_abandoned", prune_abandoned,
      "resuming from N < the newest step: delete the later steps (else refuse to start)");
    v("snapshot_every", snapshot_every,
      "copy each rank's state to memory every N steps, for restarts; 0: never; -1: 1 when the "
      "launcher may restart the workers (--max_restarts > 0), else never");
    v("snapshot_dir", snapshot_dir, "node-local memory (a tmpfs) that holds the snapshots");
    v("collective_timeout", collective_timeout,
      "seconds (>= 1) a collective, the rendezvous or a synchronous save waits for every rank");
    v("tensorboard_dir", tensorboard_dir,
      "TensorBoard event files; auto: <checkpoint dir>/tb; \"\": none");
  }

  // save_every with 0 resolved to eval_every.
  int64_t save_interval() const { return save_every == 0 ? eval_every : save_every; }

  // <base_dir>/base_checkpoints/<model_tag or d<depth>>.
  std::string checkpoint_dir() const;
  // The choices parsed, each in one place (std::invalid_argument naming the field when bad):
  torch::DeviceType device_type() const;    // kCPU or kCUDA
  torch::ScalarType compute_dtype() const;  // kFloat32 or kBFloat16
  // Snapshots as `env` allows: snapshot_every -1 resolved from its restarts, its rank and secret.
  CheckpointerOptions checkpointer_options(const DistEnv& env) const;
  // data_dir, or <base_dir>/base_data.
  std::string token_data_dir() const;
  // Where TensorBoard event files go: tensorboard_dir, <checkpoint dir>/tb for "auto", or ""
  // for none.
  std::string tensorboard_path() const;

  // Throws std::invalid_argument naming the field and the expected range.
  void validate() const;
};

// `--config FILE` (applied first, wherever it appears) and then every other flag, in order.
TrainConfig parse_train_config(const std::vector<std::string>& args);

}  // namespace nt
