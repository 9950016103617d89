// Reading and writing token shards. The whole header is validated against the file size
// before any id is read, so a truncated or foreign file fails with a message, not a crash.
#include "data/token_shard.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "data/dataset_manifest.h"
#include "runtime/environment.h"
#include "serialize/crc32c.h"

namespace nt {
namespace {

constexpr char kMagic[8] = {'N', 'T', 'T', 'O', 'K', 'E', 'N', 'S'};
constexpr uint32_t kVersion = 1;
constexpr int32_t kLlmcMagicU16 = 20240520;
constexpr int32_t kLlmcMagicU32 = 20240801;
constexpr int64_t kLlmcHeaderBytes = 256 * 4;

template <typename T>
T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // x86 and every target LibTorch supports are little-endian
  return v;
}

template <typename T>
void append_le(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

TokenShardInfo read_token_shard_info(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open token shard '{}'", path));
  const auto file_size = static_cast<int64_t>(std::filesystem::file_size(path));
  char header[kLlmcHeaderBytes] = {};
  in.read(header, std::min<int64_t>(file_size, kLlmcHeaderBytes));
  TokenShardInfo info;
  if (file_size >= kShardHeaderBytes && std::memcmp(header, kMagic, sizeof(kMagic)) == 0) {
    const auto version = load_le<uint32_t>(header + 8);
    if (version != kVersion)
      throw std::runtime_error(
          fmt::format("{}: shard version {}, expected {}", path, version, kVersion));
    info.format = "nanotrain";
    info.bytes_per_token = load_le<uint32_t>(header + 12);
    info.num_tokens = static_cast<int64_t>(load_le<uint64_t>(header + 16));
    info.vocab_size = static_cast<int64_t>(load_le<uint64_t>(header + 24));
    info.data_offset = kShardHeaderBytes;
    if (info.bytes_per_token != 2 && info.bytes_per_token != 4)
      throw std::runtime_error(
          fmt::format("{}: {} bytes per token, expected 2 or 4", path, info.bytes_per_token));
    if (info.vocab_size <= 0 || info.vocab_size > (int64_t{1} << 31))
      throw std::runtime_error(
          fmt::format("{}: vocabulary size {} is out of range", path, info.vocab_size));
  } else if (file_size >= kLlmcHeaderBytes && (load_le<int32_t>(header) == kLlmcMagicU16 ||
                                               load_le<int32_t>(header) == kLlmcMagicU32)) {
    info.format = "llm.c";
    info.bytes_per_token = load_le<int32_t>(header) == kLlmcMagicU16 ? 2 : 4;
    info.num_tokens = load_le<int32_t>(header + 8);
    info.data_offset = kLlmcHeaderBytes;
  } else {
    throw std::runtime_error(fmt::format(
        "{}: not a token shard (expected the magic 'NTTOKENS' or an llm.c header)", path));
  }
  const int64_t expected = info.data_offset + info.num_tokens * info.bytes_per_token;
  if (info.num_tokens < 0 || expected != file_size)
    throw std::runtime_error(fmt::format("{}: header says {} tokens ({} bytes), file has {} bytes",
                                         path, info.num_tokens, expected, file_size));
  return info;
}

torch::Tensor read_token_shard(const std::string& path, int64_t max_tokens,
                               const std::string& expected_crc32c) {
  const TokenShardInfo info = read_token_shard_info(path);
  if (!expected_crc32c.empty()) {
    const std::string found = crc32c_hex(file_crc32c(path));
    if (found != expected_crc32c)
      throw std::runtime_error(fmt::format(
          "{}: CRC-32C {}, but {} records {}: the file changed after `nanotrain prepare` wrote "
          "it (a damaged disk, or another writer); rerun `nanotrain prepare`",
          path, found, kManifestFileName, expected_crc32c));
  }
  std::ifstream in(path, std::ios::binary);
  in.seekg(info.data_offset);
  const auto n = max_tokens < 0 ? info.num_tokens : std::min(info.num_tokens, max_tokens);
  torch::Tensor tokens;
  if (info.bytes_per_token == 2) {
    std::vector<uint16_t> raw(n);
    in.read(reinterpret_cast<char*>(raw.data()), n * 2);
    tokens = torch::empty({n}, torch::kInt32);
    std::copy(raw.begin(), raw.end(), tokens.data_ptr<int32_t>());
  } else {
    tokens = torch::empty({n}, torch::kInt32);
    in.read(reinterpret_cast<char*>(tokens.data_ptr<int32_t>()), n * 4);
  }
  if (!in) throw std::runtime_error(fmt::format("{}: error reading {} tokens", path, n));
  if (n > 0) {
    const auto* ids = tokens.data_ptr<int32_t>();
    const int64_t limit = info.vocab_size > 0 ? info.vocab_size : (int64_t{1} << 31);
    for (int64_t i = 0; i < n; ++i)
      if (ids[i] < 0 || ids[i] >= limit)
        throw std::runtime_error(fmt::format("{}: token {} is {}, outside the vocabulary [0, {})",
                                             path, i, static_cast<uint32_t>(ids[i]), limit));
  }
  return tokens;
}

namespace {

constexpr const char* kRerun = "rerun `nanotrain prepare`";

TokenShardFiles shards_of_manifest(const std::string& dir, int64_t vocab_size,
                                   const std::string& tokenizer_crc32c) {
  const DatasetManifest m = read_dataset_manifest(dir);
  const std::string where = dir + "/" + kManifestFileName;
  if (m.vocab_size != vocab_size)
    throw std::runtime_error(
        fmt::format("{}: the shards were written for a vocabulary of {} tokens, but the "
                    "tokenizer has {}: {} with this tokenizer",
                    where, m.vocab_size, vocab_size, kRerun));
  if (!tokenizer_crc32c.empty() && m.tokenizer_crc32c != tokenizer_crc32c)
    throw std::runtime_error(
        fmt::format("{}: the shards were written with the tokenizer of CRC-32C {}, but the "
                    "tokenizer here is {}: {} with this tokenizer",
                    where, m.tokenizer_crc32c, tokenizer_crc32c, kRerun));
  auto check = [&](const ShardRecord& shard) {
    const std::string path = dir + "/" + shard.name;
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path, ec);
    if (ec)
      throw std::runtime_error(
          fmt::format("{}: listed in {}, but missing: {}", path, kManifestFileName, kRerun));
    if (static_cast<int64_t>(bytes) != shard.bytes ||
        read_token_shard_info(path).num_tokens != shard.tokens)
      throw std::runtime_error(fmt::format("{}: {} bytes, {} records {} bytes and {} tokens: {}",
                                           path, bytes, kManifestFileName, shard.bytes,
                                           shard.tokens, kRerun));
    return path;
  };
  TokenShardFiles files;
  for (const auto& shard : m.train) {
    files.train.push_back(check(shard));
    files.train_crc32c.push_back(shard.crc32c);
  }
  files.val = check(m.val);
  files.val_crc32c = m.val.crc32c;
  return files;
}

}  // namespace

TokenShardFiles list_token_shards(const std::string& dir, int64_t vocab_size,
                                  const std::string& tokenizer_crc32c) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw std::runtime_error(fmt::format(
        "no token shards: '{}' is not a directory (run `nanotrain prepare` to write them)", dir));
  if (std::filesystem::exists(dir + "/" + kManifestFileName, ec))
    return shards_of_manifest(dir, vocab_size, tokenizer_crc32c);
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".bin")
      paths.push_back(entry.path().string());
  std::sort(paths.begin(), paths.end());
  if (paths.size() < 2)
    throw std::runtime_error(fmt::format(
        "{}: expected at least two .bin token shards (training and validation), found {}", dir,
        paths.size()));
  TokenShardFiles files;
  for (const auto& path : paths) {
    const auto info = read_token_shard_info(path);
    if (info.format == "nanotrain")
      throw std::runtime_error(
          fmt::format("{}: nanotrain token shards without {} (an interrupted `nanotrain prepare`, "
                      "or one from before manifests): {}",
                      dir, kManifestFileName, kRerun));
    const bool val =
        std::filesystem::path(path).filename().string().find("_val") != std::string::npos;
    if (val && files.val.empty())
      files.val = path;
    else
      files.train.push_back(path);
  }
  if (files.val.empty()) {
    files.val = files.train.back();
    files.train.pop_back();
  }
  return files;
}

std::string encode_token_shard(const std::vector<int32_t>& tokens, int64_t vocab_size) {
  if (vocab_size <= 0)
    throw std::invalid_argument(fmt::format("vocab_size must be positive, found {}", vocab_size));
  const uint32_t width = vocab_size <= 65536 ? 2 : 4;
  std::string out(kMagic, sizeof(kMagic));
  append_le<uint32_t>(out, kVersion);
  append_le<uint32_t>(out, width);
  append_le<uint64_t>(out, tokens.size());
  append_le<uint64_t>(out, static_cast<uint64_t>(vocab_size));
  out.reserve(out.size() + tokens.size() * width);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t id = tokens[i];
    if (id < 0 || id >= vocab_size)
      throw std::invalid_argument(
          fmt::format("token {} is {}, outside the vocabulary [0, {})", i, id, vocab_size));
    if (width == 2)
      append_le<uint16_t>(out, static_cast<uint16_t>(id));
    else
      append_le<uint32_t>(out, static_cast<uint32_t>(id));
  }
  return out;
}

std::string get_base_data_dir() {
  return get_base_dir() + "/base_data";
}

}  // namespace nt
