// The training loop of `nanotrain train`, callable in-process (tests, benchmarks).
#pragma once

#include <vector>

#include "trainer/train_config.h"

namespace nt {

struct TrainResult {
  std::vector<double> losses;  // training loss of each step, in order
  bool preempted = false;      // stopped early on SIGTERM/SIGUSR1/SIGINT after saving
};

// Runs cfg.num_iterations optimizer steps; cfg must have passed validate(). A preemption signal
// ends the run after the current step, which rank 0 saves.
TrainResult train(const TrainConfig& cfg);

}  // namespace nt
