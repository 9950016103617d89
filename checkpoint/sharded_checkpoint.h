// The sharded layout of a step, for jobs whose optimizer state is too large for one writer:
// every rank writes optim_{step:06d}_rank{r}.pt at the same time, holding the optimizer state it
// owns (Optimizers::shard_state_dicts: its AdamW shards, its Muon matrices' momentum), rank 0
// also writes model_{step:06d}.pt, and once every rank has reported its file durable (size and
// CRC-32C), rank 0 writes the meta naming all of them, with optim_shards = the number of ranks.
// Such a step reads back at any world size (Optimizers::load_state_dict_shards).
#pragma once

#include <ATen/core/ivalue.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_manager.h"
#include "runtime/collectives.h"
#include "serialize/atomic_file.h"

namespace nt {

// The save's three rounds, for a caller that runs the second on a background thread.
// Round one, every rank: rank 0 clears what an earlier attempt at `step` left; no rank may write
// before. Throws std::runtime_error on every rank when rank 0 could not.
void prepare_sharded_step(const std::string& checkpoint_dir, int64_t step, int rank,
                          Collectives* collectives);

// Round two's outcome on one rank: its optimizer shard's file (rank 0: the model's too).
struct ShardWrite {
  std::string error;  // "" when the files were written
  WrittenFile shard;
  WrittenFile model;  // rank 0's
};

// Round two, no communication: writes this rank's files (`model_data` on rank 0 only). Never
// throws: an error is returned in the ShardWrite.
ShardWrite write_shard(const std::string& checkpoint_dir, int64_t step, const ModelData& model_data,
                       const c10::IValue& optimizer_shard, int rank);

// Round three, every rank: the ranks exchange their outcomes and rank 0 commits the meta. Throws
// as save_sharded_checkpoint does.
void commit_sharded_step(const std::string& checkpoint_dir, int64_t step,
                         const nlohmann::json& meta_data, const ShardWrite& mine, int rank,
                         int world_size, Collectives* collectives);

// The three rounds in a row. Every rank calls it with its own `optimizer_shard`; `model_data` is
// read on rank 0 only, and `meta_data` is as for save_checkpoint. `collectives` is nullptr for a
// world of one. Throws std::runtime_error on every rank when any rank could not write: the failing
// rank with its own error, the others naming the ranks that failed; the step is then not complete.
// A failure of rank 0's commit after that is thrown on rank 0 alone (the caller agrees on it).
void save_sharded_checkpoint(const std::string& checkpoint_dir, int64_t step,
                             const ModelData& model_data, const c10::IValue& optimizer_shard,
                             const nlohmann::json& meta_data, int rank, int world_size,
                             Collectives* collectives);

// Whether a committed meta describes the sharded layout (it has optim_shards).
bool is_sharded_step(const nlohmann::json& meta);

// Every rank's [AdamW, Muon] shard list of a sharded step, in rank order, read onto the CPU
// (each rank then copies only its own part to its device). Throws std::runtime_error naming
// the meta when it does not list every rank's file.
std::vector<c10::IValue> load_optimizer_shards(const std::string& checkpoint_dir, int64_t step,
                                               const nlohmann::json& meta);

}  // namespace nt
