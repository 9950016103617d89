// Token shard files. nanotrain's format: a 32-byte little-endian header
//   magic "NTTOKENS" (8 bytes) | version u32 = 1 | bytes per token u32 (2 or 4)
//   | token count u64 | vocabulary size u64
// followed by the ids as uint16 (when the vocabulary fits) or uint32. llm.c's and nanoGPT's
// .bin shards (256 int32 header: magic 20240520 with uint16 ids, or 20240801 with uint32) read too.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nt {

constexpr int64_t kShardHeaderBytes = 32;

struct TokenShardInfo {
  std::string format;  // "nanotrain" or "llm.c"
  int64_t num_tokens = 0;
  int64_t bytes_per_token = 0;  // 2 or 4
  int64_t vocab_size = 0;       // 0 where the file does not say (llm.c)
  int64_t data_offset = 0;      // bytes before the first id
};

// The header of a shard, checked against the file size. Throws std::runtime_error naming the
// path and what was expected when the file is not a shard, is truncated or has trailing bytes.
TokenShardInfo read_token_shard_info(const std::string& path);

// The ids of a shard (the first `max_tokens` of them, unless -1) as a 1-D int32 tensor; an id
// outside [0, vocab_size) is an error. Unless `expected_crc32c` is empty, the whole file's
// CRC-32C must equal it (8 hex digits, as manifest.json records it): a shard the disk returns
// damaged is an error naming it, not training on other tokens.
torch::Tensor read_token_shard(const std::string& path, int64_t max_tokens = -1,
                               const std::string& expected_crc32c = "");

struct TokenShardFiles {
  std::vector<std::string> train;         // in reading order
  std::vector<std::string> train_crc32c;  // the manifest's, one per shard; empty for llm.c's
  std::string val;
  std::string val_crc32c;  // "" for llm.c's
};

// The shards of a data directory. With a manifest.json (nanotrain prepare's): its shards, each
// checked to exist with the recorded size and token count, the vocabulary, and, unless
// `tokenizer_crc32c` is empty, the tokenizer's checksum. Without one: llm.c's *.bin shards,
// sorted by name, the one whose name contains "_val" (else the last) for validation; nanotrain
// shards without a manifest are an interrupted prepare and refused. Throws std::runtime_error
// naming the directory or the shard, saying to rerun `nanotrain prepare` where that helps.
TokenShardFiles list_token_shards(const std::string& dir, int64_t vocab_size,
                                  const std::string& tokenizer_crc32c = "");

// The bytes of a nanotrain shard holding `tokens`, each in [0, vocab_size): uint16 ids when
// vocab_size <= 65536, else uint32. Throws std::invalid_argument for an id out of range.
std::string encode_token_shard(const std::vector<int32_t>& tokens, int64_t vocab_size);

// <base_dir>/base_data, where `nanotrain prepare` writes its shards (nanochat's base_data).
std::string get_base_data_dir();

}  // namespace nt
