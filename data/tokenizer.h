// The tokenizer interface build_model returns with a model, and the byte-level tokenizer
// (ids 0..255 are bytes, <|bos|> = 256) that needs no training.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/byte_text.h"

namespace nt {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t bos_token_id() const = 0;
  // Token ids of `text`, without <|bos|>.
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  // Text of `ids`; special tokens decode to their names. Throws std::invalid_argument for an id
  // outside the vocabulary.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
};

class ByteTokenizer : public Tokenizer {
 public:
  int64_t vocab_size() const override { return kByteVocabSize; }
  int64_t bos_token_id() const override { return kByteBosToken; }
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
};

// The tokenizer models are trained with (nanochat's get_tokenizer): the byte-level one.
std::unique_ptr<Tokenizer> get_tokenizer();

}  // namespace nt
