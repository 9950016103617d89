// A training run's state besides its tensors (loop figures, data position, RNG states) and the
// meta keys it travels in. Which keys a meta must hold depends on who wrote it: nanotrain's
// metas (format_version 1) carry all of them, nanochat's carry at most its loop_state.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "data/loader_state.h"

namespace nt {

struct TrainState {
  int64_t step = 0;                  // optimizer updates done
  double total_training_time = 0.0;  // seconds, summed over steps (resumes included)
  double smooth_train_loss = 0.0;    // EMA (0.9) of the training loss, not yet debiased
  double val_bpb = -1.0;             // the latest evaluation; -1 before the first
  double min_val_bpb = -1.0;         // the best evaluation; -1 before the first
  std::optional<LoaderState> data;   // where the loader stands; none: read from the start
  nlohmann::json rng_state;          // runtime/rng_state.h's form; null: none saved
};

// Sets meta's val_bpb, loop_state, dataloader_state_dict (with the job's `world_size`)
// and, when state.rng_state is not null, rng_state.
void write_train_state(const TrainState& state, int world_size, nlohmann::json& meta);

// The state a meta (as read_meta returns it) records:
// - nanotrain's (a commit record, format_version 1): dataloader_state_dict's shard, position
//   and epoch and loop_state are required; rng_state is optional (metas from before it existed
//   resume with the seed's RNG);
// - nanochat's (no commit record): loop_state's figures where present (null, i.e. Python's
//   inf or nan, reads as the default), no data position (nanochat reads parquet files), no RNG.
// Throws std::runtime_error naming `where` and the key; a format_version above the one this
// build writes is refused as written by a newer nanotrain.
TrainState read_train_state(const nlohmann::json& meta, const std::string& where);

}  // namespace nt
