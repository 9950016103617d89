// Which documents of a corpus stream go to the validation shard: whole documents, drawn with a
// seeded generator at the rate that yields about `target_tokens`, so that `nanotrain prepare`
// decides as each document passes, holds no more than the validation tokens, and spreads them
// over the corpus instead of taking its tail.
#pragma once

#include <cstdint>
#include <random>

namespace nt {

class ValidationSplit {
 public:
  // target_tokens > 0: the validation tokens wanted; estimated_tokens > 0: the corpus's
  // estimated total; num_documents >= 2: the documents the stream holds.
  ValidationSplit(int64_t target_tokens, double estimated_tokens, int64_t num_documents,
                  uint64_t seed);

  // Whether document `index` (0-based, in stream order), of `tokens` tokens, validates. Call once
  // per document, in order. The first document always trains and the last one validates when
  // no other has, so both sides are never empty; none is taken once the target is reached.
  bool take(int64_t index, int64_t tokens);

  int64_t tokens() const { return tokens_; }
  int64_t documents() const { return documents_; }

 private:
  int64_t target_tokens_;
  double rate_;  // probability that a document validates
  int64_t num_documents_;
  std::mt19937_64 rng_;
  int64_t tokens_ = 0, documents_ = 0;
};

}  // namespace nt
