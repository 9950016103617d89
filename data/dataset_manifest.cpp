// manifest.json as nlohmann JSON, every field required on read.
#include "data/dataset_manifest.h"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

namespace nt {
namespace {

nlohmann::ordered_json shard_json(const ShardRecord& shard) {
  return {{"name", shard.name},
          {"tokens", shard.tokens},
          {"bytes", shard.bytes},
          {"crc32c", shard.crc32c}};
}

template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key))
    throw std::runtime_error(fmt::format("{}: missing key '{}'", where, key));
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(fmt::format("{}: key '{}' has the wrong type", where, key));
  }
}

ShardRecord shard_from_json(const nlohmann::json& j, const std::string& where) {
  ShardRecord shard;
  shard.name = field<std::string>(j, "name", where);
  shard.tokens = field<int64_t>(j, "tokens", where);
  shard.bytes = field<int64_t>(j, "bytes", where);
  shard.crc32c = field<std::string>(j, "crc32c", where);
  if (shard.name.empty() || shard.name.find('/') != std::string::npos || shard.name[0] == '.')
    throw std::runtime_error(fmt::format("{}: '{}' is not a file name", where, shard.name));
  return shard;
}

}  // namespace

nlohmann::ordered_json DatasetManifest::to_json() const {
  nlohmann::ordered_json shards = nlohmann::ordered_json::array();
  for (const auto& shard : train) shards.push_back(shard_json(shard));
  return {{"format_version", kManifestVersion},
          {"train", shards},
          {"val", shard_json(val)},
          {"vocab_size", vocab_size},
          {"tokenizer_crc32c", tokenizer_crc32c},
          {"source", source},
          {"documents", documents},
          {"tokens", documents_tokens},
          {"val_documents", val_documents},
          {"empty_documents", empty_documents}};
}

DatasetManifest DatasetManifest::from_json(const nlohmann::json& j, const std::string& where) {
  const auto version = field<int64_t>(j, "format_version", where);
  if (version != kManifestVersion)
    throw std::runtime_error(
        fmt::format("{}: format_version {}, expected {}", where, version, kManifestVersion));
  DatasetManifest m;
  const auto train = field<nlohmann::json>(j, "train", where);
  if (!train.is_array() || train.empty())
    throw std::runtime_error(fmt::format("{}: 'train' must list at least one shard", where));
  for (size_t i = 0; i < train.size(); ++i)
    m.train.push_back(shard_from_json(train[i], fmt::format("{}: train[{}]", where, i)));
  m.val = shard_from_json(field<nlohmann::json>(j, "val", where), where + ": val");
  m.vocab_size = field<int64_t>(j, "vocab_size", where);
  m.tokenizer_crc32c = field<std::string>(j, "tokenizer_crc32c", where);
  m.source = field<std::string>(j, "source", where);
  m.documents = field<int64_t>(j, "documents", where);
  m.documents_tokens = field<int64_t>(j, "tokens", where);
  m.val_documents = field<int64_t>(j, "val_documents", where);
  m.empty_documents = field<int64_t>(j, "empty_documents", where);
  return m;
}

DatasetManifest read_dataset_manifest(const std::string& dir) {
  const std::string path = dir + "/" + kManifestFileName;
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("cannot open '{}'", path));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: invalid JSON: {}", path, e.what()));
  }
  return DatasetManifest::from_json(j, path);
}

}  // namespace nt
