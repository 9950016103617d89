// Token shard files: both widths round trip, llm.c's format reads, damaged or foreign files
// fail with the path and what was wrong, and a data directory is listed from its manifest.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/dataset_manifest.h"
#include "data/token_shard.h"
#include "serialize/crc32c.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace nt {
namespace {

using testing::ScopedTempDir;

namespace fs = std::filesystem;

class TokenShardTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  ScopedTempDir temp_{"shards"};
  const std::string dir_ = temp_.path();
};

// llm.c's format: a header of 256 int32 (magic 20240520, version 1, token count), uint16 ids.
std::string llmc_shard(const std::vector<uint16_t>& ids) {
  std::vector<int32_t> header(256, 0);
  header[0] = 20240520;
  header[1] = 1;
  header[2] = static_cast<int32_t>(ids.size());
  std::string bytes(reinterpret_cast<const char*>(header.data()), 1024);
  bytes.append(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(uint16_t));
  return bytes;
}

std::vector<int32_t> ids_of(const torch::Tensor& t) {
  return {t.data_ptr<int32_t>(), t.data_ptr<int32_t>() + t.numel()};
}

TEST_F(TokenShardTest, RoundTripsUint16AndUint32) {
  const std::vector<int32_t> small = {1, 0, 65535, 42, 7};
  const auto path16 = write("a.bin", encode_token_shard(small, 65536));
  auto info = read_token_shard_info(path16);
  EXPECT_EQ(info.format, "nanotrain");
  EXPECT_EQ(info.bytes_per_token, 2);
  EXPECT_EQ(info.num_tokens, 5);
  EXPECT_EQ(info.vocab_size, 65536);
  EXPECT_EQ(fs::file_size(path16), 32u + 5 * 2);
  EXPECT_EQ(ids_of(read_token_shard(path16)), small);
  EXPECT_EQ(ids_of(read_token_shard(path16, 2)), (std::vector<int32_t>{1, 0}));  // a prefix
  EXPECT_EQ(ids_of(read_token_shard(path16, 99)), small);

  const std::vector<int32_t> large = {100000, 0, 65536, 3};
  const auto path32 = write("b.bin", encode_token_shard(large, 100277));
  EXPECT_EQ(read_token_shard_info(path32).bytes_per_token, 4);
  EXPECT_EQ(ids_of(read_token_shard(path32)), large);
  EXPECT_EQ(read_token_shard(write("empty.bin", encode_token_shard({}, 10))).numel(), 0);
  testing::expect_error(
      [] {
        encode_token_shard({3, 10}, 10);
      },
      "token 1 is 10, outside the vocabulary [0, 10)");
}

TEST_F(TokenShardTest, ReadsLlmcShards) {
  const auto path = write("fineweb_train_000001.bin", llmc_shard({50256, 15496, 11}));
  EXPECT_EQ(read_token_shard_info(path).format, "llm.c");
  EXPECT_EQ(ids_of(read_token_shard(path)), (std::vector<int32_t>{50256, 15496, 11}));
}

TEST_F(TokenShardTest, DamagedFilesFailWithTheReason) {
  const std::string good = encode_token_shard({1, 2, 3, 4}, 1024);
  testing::expect_error<std::runtime_error>(
      [&] { read_token_shard(write("short.bin", good.substr(0, good.size() - 1))); },
      "short.bin: header says 4 tokens (40 bytes), file has 39 bytes");
  testing::expect_error<std::runtime_error>(
      [&] { read_token_shard(write("long.bin", good + "x")); }, "file has 41 bytes");
  testing::expect_error<std::runtime_error>(
      [&] { read_token_shard(write("text.bin", "hello, not a shard")); },
      "text.bin: not a token shard (expected the magic 'NTTOKENS'");
  testing::expect_error<std::runtime_error>([&] { read_token_shard(write("zero.bin", "")); },
                                            "not a token shard");
  std::string version = good;
  version[8] = 9;
  testing::expect_error<std::runtime_error>(
      [&] { read_token_shard(write("version.bin", version)); }, "shard version 9, expected 1");
  std::string width = good;
  width[12] = 3;
  testing::expect_error<std::runtime_error>([&] { read_token_shard(write("width.bin", width)); },
                                            "3 bytes per token, expected 2 or 4");
  std::string id = good;
  id[32] = static_cast<char>(0xff);
  id[33] = static_cast<char>(0xff);
  testing::expect_error<std::runtime_error>(
      [&] { read_token_shard(write("id.bin", id)); },
      "id.bin: token 0 is 65535, outside the vocabulary [0, 1024)");
  testing::expect_error<std::runtime_error>([&] { read_token_shard(dir_ + "/missing.bin"); },
                                            "cannot open token shard");
}

// The shards of a manifest, as `nanotrain prepare` writes it (sizes and counts of real files).
void write_manifest(const std::string& dir, const std::vector<std::string>& train,
                    const std::string& val, int64_t vocab_size) {
  DatasetManifest m;
  auto record = [&](const std::string& name) {
    ShardRecord shard;
    shard.name = name;
    shard.bytes = static_cast<int64_t>(fs::file_size(dir + "/" + name));
    shard.tokens = read_token_shard_info(dir + "/" + name).num_tokens;
    shard.crc32c = crc32c_hex(file_crc32c(dir + "/" + name));
    return shard;
  };
  for (const auto& name : train) m.train.push_back(record(name));
  m.val = record(val);
  m.vocab_size = vocab_size;
  m.tokenizer_crc32c = "0123abcd";
  std::ofstream(dir + "/" + kManifestFileName) << m.to_json().dump();
}

TEST_F(TokenShardTest, ListingFollowsTheManifestAndChecksItsShards) {
  for (const char* name : {"shard_00000.bin", "shard_00001.bin", "shard_00002.bin"})
    write(name, encode_token_shard({1, 2, 3}, 1024));
  write("notes.txt", "not a shard");
  write_manifest(dir_, {"shard_00001.bin", "shard_00000.bin"}, "shard_00002.bin", 1024);
  auto files = list_token_shards(dir_, 1024, "0123abcd");
  ASSERT_EQ(files.train.size(), 2u);
  EXPECT_EQ(fs::path(files.train[0]).filename(), "shard_00001.bin");  // the manifest's order
  EXPECT_EQ(fs::path(files.val).filename(), "shard_00002.bin");
  const std::string crc = crc32c_hex(file_crc32c(files.val));
  EXPECT_EQ(files.train_crc32c, std::vector<std::string>(2, crc));  // three equal shards
  EXPECT_EQ(files.val_crc32c, crc);
  EXPECT_EQ(ids_of(read_token_shard(files.val, 2, files.val_crc32c)), (std::vector<int32_t>{1, 2}));
  testing::expect_error<std::runtime_error>(
      [&] { read_token_shard(files.val, 2, "0badc0de"); },
      "shard_00002.bin: CRC-32C " + crc + ", but manifest.json records 0badc0de");
  testing::expect_error<std::runtime_error>(
      [&] { list_token_shards(dir_, 4096); },
      "written for a vocabulary of 1024 tokens, but the tokenizer has 4096");
  testing::expect_error<std::runtime_error>(
      [&] { list_token_shards(dir_, 1024, "99999999"); },
      "written with the tokenizer of CRC-32C 0123abcd, but the tokenizer here is 99999999: rerun "
      "`nanotrain prepare`");
  write("shard_00002.bin", encode_token_shard({1, 2}, 1024));  // not what the manifest says
  testing::expect_error<std::runtime_error>(
      [&] { list_token_shards(dir_, 1024); },
      "shard_00002.bin: 36 bytes, manifest.json records 38 bytes and 3 tokens");
  fs::remove(dir_ + "/shard_00001.bin");
  testing::expect_error<std::runtime_error>(
      [&] { list_token_shards(dir_, 1024); },
      "shard_00001.bin: listed in manifest.json, but missing: rerun `nanotrain prepare`");
  write(kManifestFileName, "{\"format_version\": 1, \"train\": []}");
  testing::expect_error<std::runtime_error>([&] { list_token_shards(dir_, 1024); },
                                            "'train' must list at least one shard");
}

TEST_F(TokenShardTest, ShardsWithoutAManifestAreAnInterruptedPrepareUnlessLlmc) {
  for (const char* name : {"shard_00000.bin", "shard_00001.bin"})
    write(name, encode_token_shard({1, 2}, 1024));
  testing::expect_error<std::runtime_error>(
      [&] { list_token_shards(dir_, 1024); },
      "nanotrain token shards without manifest.json (an interrupted `nanotrain prepare`");
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  // llm.c's shards carry no vocabulary and come without a manifest: "_val" marks validation.
  for (const char* name : {"data_train_000000.bin", "data_train_000001.bin", "data_val_000000.bin"})
    write(name, llmc_shard({1, 2, 3}));
  auto files = list_token_shards(dir_, 1024);
  ASSERT_EQ(files.train.size(), 2u);
  EXPECT_EQ(fs::path(files.val).filename(), "data_val_000000.bin");
  fs::remove(dir_ + "/data_val_000000.bin");
  fs::remove(dir_ + "/data_train_000001.bin");
  testing::expect_error<std::runtime_error>(
      [&] { list_token_shards(dir_, 1024); },
      "expected at least two .bin token shards (training and validation), found 1");
  testing::expect_error<std::runtime_error>([&] { list_token_shards(dir_ + "/nope", 1024); },
                                            "is not a directory (run `nanotrain prepare`");
}

}  // namespace
}  // namespace nt
