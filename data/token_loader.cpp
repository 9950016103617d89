// The loader keeps one shard in memory at a time. Shard sizes come from the headers up front,
// so a shard too small for a window is skipped without being read, and an impossible
// configuration fails at construction rather than mid-run.
#include "data/token_loader.h"

#include <fmt/format.h>

#include <numeric>
#include <random>
#include <stdexcept>

#include "data/token_shard.h"

namespace nt {

DistributedTokenLoader::DistributedTokenLoader(std::vector<std::string> shard_paths,
                                               int64_t batch_size, int64_t seq_len, int rank,
                                               int world_size, uint64_t seed,
                                               std::vector<std::string> shard_crc32c)
    : paths_(std::move(shard_paths)),
      crc32c_(std::move(shard_crc32c)),
      batch_size_(batch_size),
      seq_len_(seq_len),
      rank_(rank),
      world_size_(world_size),
      seed_(seed) {
  if (batch_size <= 0 || seq_len <= 0 || world_size <= 0 || rank < 0 || rank >= world_size)
    throw std::invalid_argument(
        fmt::format("loader: invalid batch_size {}, seq_len {}, rank {} of {}", batch_size, seq_len,
                    rank, world_size));
  if (paths_.empty()) throw std::invalid_argument("loader: no training shards");
  if (!crc32c_.empty() && crc32c_.size() != paths_.size())
    throw std::invalid_argument(
        fmt::format("loader: {} checksums for {} shards", crc32c_.size(), paths_.size()));
  const int64_t window = world_size * batch_size * seq_len + 1;
  int64_t largest = 0;
  for (const auto& path : paths_) {
    sizes_.push_back(read_token_shard_info(path).num_tokens);
    largest = std::max(largest, sizes_.back());
  }
  if (largest < window)
    throw std::invalid_argument(fmt::format(
        "loader: one step needs {} tokens (world_size {} * device_batch_size {} * max_seq_len "
        "{} + 1), but the largest of the {} training shards holds {}",
        window, world_size, batch_size, seq_len, paths_.size(), largest));
  load_state(LoaderState{});
}

std::vector<int64_t> DistributedTokenLoader::shard_order(int64_t epoch) const {
  std::vector<int64_t> order(paths_.size());
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates on raw mt19937_64 output: unlike std::shuffle, the same on every platform.
  std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
}

void DistributedTokenLoader::load_state(const LoaderState& state) {
  if (state.epoch < 0)
    throw std::invalid_argument(fmt::format("loader state: epoch {} is negative", state.epoch));
  if (state.shard < 0 || state.shard >= static_cast<int64_t>(paths_.size()))
    throw std::invalid_argument(
        fmt::format("loader state: shard {} is outside [0, {})", state.shard, paths_.size()));
  const auto order = shard_order(state.epoch);
  const int64_t size = sizes_[order[state.shard]];
  if (state.position < 0 || state.position > size)
    throw std::invalid_argument(
        fmt::format("loader state: position {} is outside shard {} ({} tokens)", state.position,
                    paths_[order[state.shard]], size));
  state_ = state;
  order_ = order;
  advance_to_fitting_window();
}

void DistributedTokenLoader::advance_to_fitting_window() {
  const int64_t window = world_size_ * batch_size_ * seq_len_ + 1;
  while (state_.position + window > sizes_[order_[state_.shard]]) {
    state_.position = 0;
    if (++state_.shard == static_cast<int64_t>(paths_.size())) {
      state_.shard = 0;
      ++state_.epoch;
      order_ = shard_order(state_.epoch);
    }
  }
}

void DistributedTokenLoader::open_current_shard() {
  const int64_t index = order_[state_.shard];
  if (index == open_shard_) return;
  tokens_ = read_token_shard(paths_[index], -1, crc32c_.empty() ? "" : crc32c_[index]);
  open_shard_ = index;
}

std::pair<torch::Tensor, torch::Tensor> DistributedTokenLoader::next() {
  open_current_shard();
  const int64_t span = batch_size_ * seq_len_;
  auto window = tokens_.narrow(0, state_.position + rank_ * span, span + 1).to(torch::kInt64);
  auto inputs = window.narrow(0, 0, span).view({batch_size_, seq_len_});
  auto targets = window.narrow(0, 1, span).view({batch_size_, seq_len_});
  state_.position += world_size_ * span;
  advance_to_fitting_window();
  return {inputs, targets};
}

}  // namespace nt
