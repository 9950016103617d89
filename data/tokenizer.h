// The tokenizer: a sentencepiece BPE model with byte fallback (every byte string encodes, and
// decode(encode(text)) == text) and nanochat's special tokens as user symbols. `nanotrain
// prepare` trains it and stores it at <base_dir>/tokenizer/tokenizer.model.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace nt {

// nanochat's special tokens, in its order; <|bos|> starts every document.
extern const std::vector<std::string> kSpecialTokens;
constexpr const char* kBosToken = "<|bos|>";
constexpr const char* kTokenizerFileName = "tokenizer.model";

struct TokenizerTrainingOptions {
  int64_t vocab_size = 8192;        // requested; a small corpus may yield fewer merges
  int64_t max_sentences = 5000000;  // lines sampled for training (sentencepiece's limit)
  int threads = 2;
};

class Tokenizer {
 public:
  // Trains on the lines `next_line` yields until it returns false. Throws std::runtime_error
  // with sentencepiece's message when training fails.
  static Tokenizer train(const std::function<bool(std::string&)>& next_line,
                         const TokenizerTrainingOptions& options);
  // Loads a serialized model; `source` names it in errors.
  static Tokenizer from_serialized(const std::string& proto, const std::string& source);
  // Loads <dir>/tokenizer.model; throws std::runtime_error naming the path if it cannot.
  static Tokenizer from_dir(const std::string& dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  int64_t vocab_size() const;
  int64_t bos_token_id() const;
  // Id of a special token; throws std::invalid_argument for another name.
  int64_t special_token_id(const std::string& name) const;
  // Token ids of `text`, without <|bos|>.
  std::vector<int64_t> encode(const std::string& text) const;
  // Text of `ids`; special tokens decode to their names. Throws std::invalid_argument for an id
  // outside the vocabulary.
  std::string decode(const std::vector<int64_t>& ids) const;
  // Bytes of text each token stands for (nanochat's token_bytes): 0 for special and control
  // tokens, 1 for byte-fallback tokens. Bits per byte divide the loss by these.
  std::vector<int32_t> token_bytes() const;
  // The model file's bytes, for saving.
  std::string serialized() const;
  // The CRC-32C of serialized(), 8 hex digits: the tokenizer's identity in manifest.json and in
  // a run's meta.
  std::string crc32c() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// <base_dir>/tokenizer, where `nanotrain prepare` stores tokenizer.model (nanochat's
// get_tokenizer reads the same folder of its base directory).
std::string get_tokenizer_dir();

// nanochat's get_tokenizer: the tokenizer `nanotrain prepare` stored in get_tokenizer_dir().
std::unique_ptr<Tokenizer> get_tokenizer();

}  // namespace nt
