// The configuration of `nanotrain train`: nanochat base_train's flag names, documented
// defaults, read from a JSON file (--config) and then overridden by command-line flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "optim/setup.h"

namespace nt {

struct CheckpointerOptions;

struct TrainConfig {
  std::string run = "dummy";      // run name, recorded in metrics.jsonl (nanochat's wandb name)
  std::string data_dir;           // token shards from `nanotrain prepare`; "": <base_dir>/base_data
  int64_t depth = 4;              // GPTConfig::from_depth
  int64_t max_seq_len = 256;      // tokens per sequence
  int64_t device_batch_size = 8;  // sequences per rank per micro-step
  int64_t total_batch_size = -1;  // tokens per optimizer step; -1: one micro-step on every rank
  int64_t num_iterations = 30;    // optimizer steps; -1: from target_flops or the data ratio
  double target_flops = -1.0;     // total training FLOPs, when num_iterations is -1
  double target_param_data_ratio = -1.0;  // tokens per parameter (Chinchilla: 20), likewise
  OptimizerConfig optim;                  // embedding_lr, unembedding_lr, matrix_lr, weight_decay
  double warmup_ratio = 0.0;
  double warmdown_ratio = 0.2;
  double final_lr_frac = 0.0;
  std::string device = "cpu";     // cpu | cuda
  std::string dtype = "float32";  // float32 | bfloat16 (matmul compute; weights stay fp32)
  int64_t seed = 42;
  bool deterministic = false;   // deterministic kernels only (CUDA: needed for bit-exact resume)
  double peak_flops = -1.0;     // FLOP/s per rank that MFU divides by; -1: H100 bf16 on CUDA, a
                                // measured matmul peak on CPU
  std::string model_tag;        // checkpoint folder name; default d<depth>
  int64_t eval_every = 250;     // val bpb every N steps (and at 0 and the end); -1: never
  int64_t eval_tokens = 65536;  // validation tokens per evaluation, all ranks together
  int64_t save_every = 0;       // save every N steps; 0: as eval_every; -1: last step only
  int64_t keep_last = -1;       // keep the newest K steps; -1: keep all
  bool async_save = false;      // write checkpoints on a background thread (gathered only)
  std::string checkpoint_layout = "gathered";  // gathered: rank 0 writes nanochat's files;
                                               // sharded: every rank writes its optimizer state
  std::string on_save_error = "stop";          // a failed save (disk full, ...): stop | continue
  std::string resume_from_step = "-1";  // -1: start fresh; auto: the last complete step; or N
  bool prune_abandoned = false;         // resuming from N < the newest step: delete the later
                                        // steps (else the run refuses to start)
  double collective_timeout = 600.0;    // seconds (>= 1) a collective waits for every rank,
                                        // then fails naming the missing ones; also bounds the
                                        // rendezvous and rank 0's synchronous saves

  template <class V>
  void visit(V&& v) {
    v("run", run);
    v("data_dir", data_dir);
    v("depth", depth);
    v("max_seq_len", max_seq_len);
    v("device_batch_size", device_batch_size);
    v("total_batch_size", total_batch_size);
    v("num_iterations", num_iterations);
    v("target_flops", target_flops);
    v("target_param_data_ratio", target_param_data_ratio);
    optim.visit(v);
    v("warmup_ratio", warmup_ratio);
    v("warmdown_ratio", warmdown_ratio);
    v("final_lr_frac", final_lr_frac);
    v("device", device);
    v("dtype", dtype);
    v("seed", seed);
    v("deterministic", deterministic);
    v("peak_flops", peak_flops);
    v("model_tag", model_tag);
    v("eval_every", eval_every);
    v("eval_tokens", eval_tokens);
    v("save_every", save_every);
    v("keep_last", keep_last);
    v("async_save", async_save);
    v("checkpoint_layout", checkpoint_layout);
    v("on_save_error", on_save_error);
    v("resume_from_step", resume_from_step);
    v("prune_abandoned", prune_abandoned);
    v("collective_timeout", collective_timeout);
  }

  // save_every with 0 resolved to eval_every.
  int64_t save_interval() const { return save_every == 0 ? eval_every : save_every; }

  // <base_dir>/base_checkpoints/<model_tag or d<depth>>.
  std::string checkpoint_dir() const;
  // The choices parsed, each in one place (std::invalid_argument naming the field when bad):
  torch::DeviceType device_type() const;    // kCPU or kCUDA
  torch::ScalarType compute_dtype() const;  // kFloat32 or kBFloat16
  CheckpointerOptions checkpointer_options() const;
  // data_dir, or <base_dir>/base_data.
  std::string token_data_dir() const;

  // Throws std::invalid_argument naming the field and the expected range.
  void validate() const;
};

// `--config FILE` (applied first, wherever it appears) and then every other flag, in order.
TrainConfig parse_train_config(const std::vector<std::string>& args);

}  // namespace nt
