// The training loop of `nanotrain train`, callable in-process (tests, benchmarks).
#pragma once

#include <vector>

#include "launch/train_config.h"

namespace nt {

struct TrainResult {
  std::vector<double> losses;  // training loss of each step, in order
};

// Runs cfg.num_iterations optimizer steps; cfg must have passed validate().
TrainResult train(const TrainConfig& cfg);

}  // namespace nt
