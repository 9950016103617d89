// The distributed training data loader: consecutive (B, T) batches cut from token shards. Every
// step takes one window of world_size * B * T tokens from the current shard and rank r reads
// the r-th B * T of it, so ranks read disjoint data. Shards are visited in an order shuffled
// per epoch from the seed; {shard, position, epoch} is the whole state a resume needs.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/loader_state.h"

namespace nt {

class DistributedTokenLoader {
 public:
  // Throws std::invalid_argument when no shard holds one window (world_size * B * T + 1 ids),
  // and std::runtime_error naming a shard that is missing or damaged. `shard_crc32c`, one per
  // shard or none, are the CRC-32Cs a shard must have when it is opened (TokenShardFiles's).
  DistributedTokenLoader(std::vector<std::string> shard_paths, int64_t batch_size, int64_t seq_len,
                         int rank, int world_size, uint64_t seed,
                         std::vector<std::string> shard_crc32c = {});

  // inputs (B, T) and targets (B, T) = inputs shifted by one token, both int64.
  std::pair<torch::Tensor, torch::Tensor> next();

  // The position of the next batch.
  LoaderState state() const { return state_; }
  // Continues from `state` (from state(), possibly saved at another world size). Throws
  // std::invalid_argument naming the field that is out of range.
  void load_state(const LoaderState& state);

  // The shard order of `epoch`: a permutation of the shard indices, fixed by the seed.
  std::vector<int64_t> shard_order(int64_t epoch) const;

 private:
  void advance_to_fitting_window();  // moves to the next shard (and epoch) as needed
  void open_current_shard();

  std::vector<std::string> paths_;
  std::vector<std::string> crc32c_;  // empty: not checked
  std::vector<int64_t> sizes_;       // tokens per shard, from the headers
  int64_t batch_size_, seq_len_;
  int rank_, world_size_;
  uint64_t seed_;
  LoaderState state_;
  std::vector<int64_t> order_;  // shard_order(state_.epoch)
  int64_t open_shard_ = -1;     // index into paths_ of the loaded shard
  torch::Tensor tokens_;        // its ids, int32
};

}  // namespace nt
