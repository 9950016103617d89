// Sizing and validation of GPTConfig.
#include "model/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace nt {

GPTConfig GPTConfig::from_depth(int64_t depth, int64_t sequence_len, int64_t vocab_size) {
  if (depth <= 0)
    throw std::invalid_argument(fmt::format("depth: expected a positive integer, found {}", depth));
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
