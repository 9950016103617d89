// The schedules of nanochat's base_train, to the letter, including Python's rounding.
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace nt {

double LrSchedule::multiplier(int64_t it) const {
  // std::nearbyint rounds half to even in the default rounding mode, like Python's round().
  const auto warmup = static_cast<int64_t>(std::nearbyint(warmup_ratio * num_iterations));
  const auto warmdown = static_cast<int64_t>(std::nearbyint(warmdown_ratio * num_iterations));
  if (it < warmup) return static_cast<double>(it + 1) / warmup;
  if (it <= num_iterations - warmdown) return 1.0;
  const double progress = static_cast<double>(num_iterations - it) / warmdown;
  return progress * 1.0 + (1.0 - progress) * final_lr_frac;
}

double muon_momentum(int64_t it) {
  const double frac = std::min(static_cast<double>(it) / 300.0, 1.0);
  return (1.0 - frac) * 0.85 + frac * 0.95;
}

}  // namespace nt
