// A byte-level view of a text corpus: token ids 0..255 are the text's bytes and <|bos|> = 256
// starts each document. The simplest tokenizer that needs no training; the sentencepiece
// tokenizer of `nanotrain prepare` replaces it for real runs.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>

namespace nt {

constexpr int64_t kByteVocabSize = 257;
constexpr int64_t kByteBosToken = 256;

// Reads a whole text file; throws std::runtime_error naming the path if it cannot.
std::string read_text_file(const std::string& path);

// <|bos|> followed by the bytes of `text`, as a 1-D int64 tensor.
torch::Tensor encode_bytes(const std::string& text);

// Cuts consecutive (B, T) input/target batches from a 1-D token tensor, in order, wrapping
// around at the end. Each step consumes one window of world_size * B * T tokens, and rank r
// takes the r-th B * T of it, so ranks read disjoint data. Deterministic: the k-th batch
// depends only on k, B, T, rank and world size; position() is the whole state to resume from.
class SequentialBatcher {
 public:
  // Throws std::invalid_argument when tokens hold fewer than world_size * B * T + 1 ids.
  SequentialBatcher(torch::Tensor tokens, int64_t batch_size, int64_t seq_len, int rank = 0,
                    int world_size = 1);

  // inputs (B, T) and targets (B, T) = inputs shifted by one token, both int64.
  std::pair<torch::Tensor, torch::Tensor> next();

  // Tokens consumed so far by all ranks together (the start of the next window).
  int64_t position() const { return position_; }
  // Throws std::invalid_argument for a position outside the token tensor.
  void set_position(int64_t position);

 private:
  torch::Tensor tokens_;
  int64_t batch_size_, seq_len_;
  int rank_, world_size_;
  int64_t position_ = 0;
};

}  // namespace nt
