// GPTConfig: the shape of a nanochat GPT, with nanochat's field names and defaults, the
// depth-based sizing of nanochat's base_train, and the checks every constructor relies on.
#pragma once

#include <cstdint>

namespace nt {

constexpr double kMaxParameters = 1e13;
constexpr int64_t kMaxSequenceLen = int64_t{1} << 24;

struct GPTConfig {
  int64_t sequence_len = 1024;  // longest sequence the model accepts (rotary table length)
  int64_t vocab_size = 50304;   // real vocabulary; embeddings are padded to a multiple of 64
  int64_t n_layer = 12;
  int64_t n_head = 6;     // query heads
  int64_t n_kv_head = 6;  // key/value heads (GQA when fewer than n_head)
  int64_t n_embd = 768;   // model width C

  template <class V>
  void visit(V&& v) {
    v("sequence_len", sequence_len, "longest sequence the model accepts");
    v("vocab_size", vocab_size, "real vocabulary size");
    v("n_layer", n_layer, "transformer blocks");
    v("n_head", n_head, "query heads");
    v("n_kv_head", n_kv_head, "key/value heads");
    v("n_embd", n_embd, "model width C");
  }

  // nanochat's sizing: n_layer = depth, n_embd = 64 * depth, n_head = max(1, ceil(n_embd / 128)),
  // n_kv_head = n_head. Throws std::invalid_argument for depth <= 0.
  static GPTConfig from_depth(int64_t depth, int64_t sequence_len, int64_t vocab_size);

  // Throws std::invalid_argument naming the offending value when the shape is impossible.
  // Also refuses absurd sizes: more than kMaxParameters parameters or kMaxSequenceLen tokens.
  void validate() const;

  int64_t head_dim() const { return n_embd / n_head; }
  int64_t padded_vocab_size() const { return (vocab_size + 63) / 64 * 64; }
};

}  // namespace nt
