// nanochat base_train's schedules: the LR multiplier (linear warmup, constant, linear warmdown
// to final_lr_frac) and Muon's momentum warm-up.
#pragma once

#include <cstdint>

namespace nt {

struct LrSchedule {
  int64_t num_iterations = 0;
  double warmup_ratio = 0.0;    // fraction of iterations spent warming up from 0
  double warmdown_ratio = 0.2;  // fraction of iterations at the end spent decaying
  double final_lr_frac = 0.0;   // multiplier reached at the last iteration

  // Multiplier for iteration `it` (0-based). Warmup and warmdown lengths are rounded half to
  // even, as Python's round() does.
  double multiplier(int64_t it) const;
};

// Muon momentum at iteration `it`: 0.85 -> 0.95 linearly over the first 300 iterations.
double muon_momentum(int64_t it);

}  // namespace nt
