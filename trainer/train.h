// The training loop of `nanotrain train`, callable in-process (tests, benchmarks).
#pragma once

#include <vector>

#include "trainer/train_config.h"

namespace nt {

struct TrainResult {
  std::vector<double> losses;  // training loss of each step, in order
  bool preempted = false;      // stopped early on SIGTERM/SIGUSR1/SIGINT after saving
};

// Runs the optimizer steps from the resumed step (or 0) to the horizon (num_iterations, or
// derived from target_flops or target_param_data_ratio); cfg must have passed validate(). A
// preemption signal ends the run after the current step, which is saved (Checkpointer::maybe_save:
// rank 0 writes, or every rank its shard in the sharded layout).
TrainResult train(const TrainConfig& cfg);

}  // namespace nt
