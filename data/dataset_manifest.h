// The manifest of a token data directory. `nanotrain prepare` writes it last, into a directory
// it then publishes by rename, so a directory of nanotrain shards without a complete manifest is
// an interrupted prepare, and the loader refuses it. It names every shard with its token count,
// size and CRC-32C, the tokenizer's CRC-32C (shards are only meaningful with that tokenizer),
// and where the documents came from.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace nt {

constexpr const char* kManifestFileName = "manifest.json";
constexpr int64_t kManifestVersion = 1;

struct ShardRecord {
  std::string name;  // file name inside the directory
  int64_t tokens = 0;
  int64_t bytes = 0;
  std::string crc32c;  // 8 hex digits
};

struct DatasetManifest {
  std::vector<ShardRecord> train;  // in reading order
  ShardRecord val;
  int64_t vocab_size = 0;
  std::string tokenizer_crc32c;  // of tokenizer.model's bytes
  std::string source;            // the inputs, or the KJV
  int64_t documents = 0;         // in the shards
  int64_t documents_tokens = 0;  // in the shards, <|bos|> included
  int64_t val_documents = 0;     // in the validation shard
  int64_t empty_documents = 0;   // skipped

  nlohmann::ordered_json to_json() const;
  // Throws std::runtime_error naming `where` and the key for a missing or mistyped field.
  static DatasetManifest from_json(const nlohmann::json& j, const std::string& where);
};

// <dir>/manifest.json parsed; throws std::runtime_error naming the file when it is unreadable or
// malformed.
DatasetManifest read_dataset_manifest(const std::string& dir);

}  // namespace nt
