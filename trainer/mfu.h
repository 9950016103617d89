// MFU (model FLOPs utilization) of a training step, measured against what this machine can do:
// the time the step's matmuls would take at this rank's peaks, as a share of the step's time.
// The model's matmuls run in the model's compute dtype and Muon's Newton-Schulz in its own, so
// each part is divided by the peak of its own dtype, measured once at start at the job's shapes.
#pragma once

#include <string>

#include "model/gpt.h"
#include "optim/muon.h"

namespace nt {

class MfuMeter {
 public:
  // `tokens_per_step`: tokens of one optimizer step, all ranks; `rows`: B * T of one micro-step
  // on one rank. `peak_override` > 0 replaces both measured peaks (FLOP/s per rank).
  // `cache_file` (Checkpointer::restart_cache_file, "" for none): peaks an earlier attempt of
  // the job measured on this node with as many threads are read from it, not measured again
  // (about 0.1-0.5 s of a restart on a CPU); new ones are written there.
  MfuMeter(const GPT& model, const Muon& muon, int64_t tokens_per_step, int64_t rows,
           int world_size, torch::Device device, double peak_override,
           const std::string& cache_file);

  // Percent, for a step of `step_seconds`: (model FLOPs / model peak + Newton-Schulz FLOPs /
  // its peak) / (step_seconds * world_size).
  double mfu(double step_seconds) const;
  // "model float32 at 151.2 GFLOP/s, Muon float32 at 140.3 GFLOP/s (per rank, measured)".
  std::string describe() const;
  // Where a part of the step runs in bf16 on a device without native bf16 matmul: one line
  // with that part's measured bf16 rate and the fp32 rate at the same shape. Empty otherwise.
  std::string bf16_warning() const { return bf16_warning_; }

 private:
  double model_flops_ = 0.0;  // forward + backward of one optimizer step, all ranks
  double muon_flops_ = 0.0;   // Newton-Schulz of one optimizer step, all ranks
  double model_peak_ = 0.0, muon_peak_ = 0.0;
  torch::ScalarType model_dtype_, muon_dtype_;
  int world_size_ = 1;
  bool measured_ = true;
  bool reused_ = false;  // the peaks came from the cache file
  std::string bf16_warning_;
};

}  // namespace nt
