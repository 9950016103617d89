// `nanotrain prepare`'s pipeline: trains the tokenizer on a text corpus (or reuses one) and
// writes the token shards that `nanotrain train` reads. Two streaming passes over the corpus: the
// first samples lines for the tokenizer and counts documents and bytes, the second encodes each
// document behind <|bos|> into a training shard or, by a seeded draw, the validation shard.
// Memory holds one document, one training shard, the validation tokens and the tokenizer's sample.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "data/corpus.h"
#include "data/dataset_manifest.h"

namespace nt {

// The flags of `nanotrain prepare`; visit() says what each means.
struct PrepareOptions {
  std::string input;
  CorpusOptions corpus;
  std::string tokenizer;
  int64_t vocab_size = 8192;
  int64_t shard_tokens = 1 << 24;
  int64_t val_tokens = -1;
  double val_fraction = 0.05;
  int64_t seed = 42;
  int64_t max_lines = 2000000;
  std::string base_dir;

  template <class V>
  void visit(V&& v) {
    v("input", input, "comma-separated files or folders of them; \"\": the KJV Bible");
    v("input_format", corpus.format,
      "auto: .txt a document per file, .jsonl(.gz) a document per line | lines: a document per "
      "line of every file");
    v("text_field", corpus.text_field, "the JSON Lines field holding a document's text");
    v("tokenizer", tokenizer,
      "a tokenizer.model (or its folder) to reuse instead of training one; \"\": train one");
    v("vocab_size", vocab_size, "tokenizer vocabulary (a small corpus may yield fewer)");
    v("shard_tokens", shard_tokens, "tokens per training shard (documents are not split)");
    v("val_tokens", val_tokens,
      "validation tokens, whole documents drawn across the corpus; -1: val_fraction of the "
      "corpus, at most 4194304");
    v("val_fraction", val_fraction, "share of the corpus's tokens for validation, by default");
    v("seed", seed, "the draw of validation documents");
    v("max_lines", max_lines, "lines sampled to train the tokenizer");
    v("base_dir", base_dir, "output folder; \"\": NANOTRAIN_BASE_DIR or ~/.cache/nanotrain");
  }

  void validate() const {
    if (shard_tokens < 1024)
      throw std::invalid_argument(
          fmt::format("shard_tokens: expected at least 1024, found {}", shard_tokens));
    if (!(val_fraction > 0 && val_fraction < 1))
      throw std::invalid_argument(
          fmt::format("val_fraction: expected a number in (0, 1), found {}", val_fraction));
    if (val_tokens == 0 || val_tokens < -1)
      throw std::invalid_argument(
          fmt::format("val_tokens: expected a positive number or -1, found {}", val_tokens));
    if (max_lines < 1)
      throw std::invalid_argument(fmt::format("max_lines: expected >= 1, found {}", max_lines));
    corpus.validate();
  }
};

// Prepares <base_dir>/tokenizer (tokenizer.model, token_bytes.pt) and <base_dir>/base_data
// (shards and manifest.json, staged beside the target and swapped in whole); options must have
// passed validate(). Returns the manifest published. Throws std::invalid_argument for a corpus
// of fewer than 2 documents, std::runtime_error naming the file for bad input or I/O errors.
DatasetManifest prepare_dataset(const PrepareOptions& options);

// Moves the complete directory `staging` to `target`: atomically swapped with an existing one
// (renameat2's RENAME_EXCHANGE), whose old contents are then removed, so that at every moment
// `target` is either the old data or the new. Throws std::runtime_error naming both.
void publish_directory(const std::string& staging, const std::string& target);

}  // namespace nt
