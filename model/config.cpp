// Sizing and validation of GPTConfig.
#include "model/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace nt {
namespace {

constexpr int64_t kMaxDepth = 1024;  // n_embd = 64 * depth: 65,536 wide at most

}  // namespace

GPTConfig GPTConfig::from_depth(int64_t depth, int64_t sequence_len, int64_t vocab_size) {
  if (depth <= 0 || depth > kMaxDepth)
    throw std::invalid_argument(
        fmt::format("depth: expected an integer in [1, {}], found {}", kMaxDepth, depth));
  GPTConfig c;
  c.sequence_len = sequence_len;
  c.vocab_size = vocab_size;
  c.n_layer = depth;
  c.n_embd = 64 * depth;
  c.n_head = std::max<int64_t>(1, (c.n_embd + 127) / 128);
  c.n_kv_head = c.n_head;
  c.validate();
  return c;
}

void GPTConfig::validate() const {
  auto require_positive = [](const char* name, int64_t value) {
    if (value <= 0)
      throw std::invalid_argument(
          fmt::format("model config {}: expected a positive integer, found {}", name, value));
  };
  require_positive("sequence_len", sequence_len);
  require_positive("vocab_size", vocab_size);
  require_positive("n_layer", n_layer);
  require_positive("n_head", n_head);
  require_positive("n_kv_head", n_kv_head);
  require_positive("n_embd", n_embd);
  // Sizes beyond any trainable model are a damaged file or a typo; refusing them here keeps the
  // size arithmetic below from overflowing and the allocator from being asked for petabytes.
  const double params = 2.0 * static_cast<double>(vocab_size) * static_cast<double>(n_embd) +
                        12.0 * static_cast<double>(n_layer) * static_cast<double>(n_embd) *
                            static_cast<double>(n_embd);
  if (params > kMaxParameters)
    throw std::invalid_argument(fmt::format(
        "model config: about {:.3g} parameters (n_layer {}, n_embd {}, vocab_size {}), more than "
        "the {:.0e} this runtime accepts",
        params, n_layer, n_embd, vocab_size, kMaxParameters));
  if (sequence_len > kMaxSequenceLen)
    throw std::invalid_argument(fmt::format(
        "model config sequence_len: expected at most {}, found {}", kMaxSequenceLen, sequence_len));
  if (n_embd % n_head != 0)
    throw std::invalid_argument(
        fmt::format("model config: n_head ({}) must divide n_embd ({}) evenly", n_head, n_embd));
  if (n_head % n_kv_head != 0)
    throw std::invalid_argument(fmt::format(
        "model config: n_kv_head ({}) must divide n_head ({}) evenly", n_kv_head, n_head));
  if (head_dim() % 2 != 0)
    throw std::invalid_argument(
        fmt::format("model config: head dim n_embd/n_head = {} must be even for rotary embeddings",
                    head_dim()));
}

}  // namespace nt
