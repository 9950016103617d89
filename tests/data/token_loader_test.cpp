// The distributed loader: ranks read disjoint, consecutive windows; shards are crossed and
// epochs wrap in a seeded order; and a saved {shard, position, epoch} resumes exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>

#include "data/token_loader.h"
#include "data/token_shard.h"
#include "serialize/crc32c.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace nt {
namespace {

using testing::ScopedTempDir;

namespace fs = std::filesystem;

// Shards whose ids count up globally (shard s holds s*1000 .. s*1000+size-1), so a batch names
// exactly where it came from.
class TokenLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int64_t sizes[] = {100, 70, 130, 8};  // the last is too small for any window here
    for (int s = 0; s < 4; ++s) {
      std::vector<int32_t> ids(sizes[s]);
      std::iota(ids.begin(), ids.end(), s * 1000);
      paths_.push_back(dir_ + "/shard_" + std::to_string(s) + ".bin");
      std::ofstream(paths_.back(), std::ios::binary) << encode_token_shard(ids, 4000);
    }
  }

  ScopedTempDir temp_{"loader"};
  const std::string dir_ = temp_.path();
  std::vector<std::string> paths_;
};

TEST_F(TokenLoaderTest, RanksReadDisjointConsecutiveWindows) {
  // B=2, T=4, 2 ranks: a window of 17 tokens per step; rank r takes 8 (+1 target) of it.
  DistributedTokenLoader r0(paths_, 2, 4, 0, 2, 7), r1(paths_, 2, 4, 1, 2, 7);
  const auto first = r0.shard_order(0)[0];
  auto [x0, y0] = r0.next();
  auto [x1, y1] = r1.next();
  EXPECT_EQ(x0.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(x0.scalar_type(), torch::kInt64);
  EXPECT_EQ(x0.flatten()[0].item<int64_t>(), first * 1000);
  EXPECT_EQ(x1.flatten()[0].item<int64_t>(), first * 1000 + 8);
  EXPECT_TRUE(torch::equal(y0.flatten(), x0.flatten() + 1));
  EXPECT_EQ(r0.state().position, 16);
  EXPECT_EQ(r0.state().position, r1.state().position);
}

TEST_F(TokenLoaderTest, CrossesShardsAndWrapsEpochsInSeededOrder) {
  DistributedTokenLoader loader(paths_, 1, 10, 0, 1, 3);
  const auto order0 = loader.shard_order(0), order1 = loader.shard_order(1);
  EXPECT_EQ(std::set<int64_t>(order0.begin(), order0.end()), (std::set<int64_t>{0, 1, 2, 3}));
  EXPECT_NE(order0, order1);  // with this seed; a fixed permutation per epoch
  EXPECT_EQ(DistributedTokenLoader(paths_, 1, 10, 0, 1, 3).shard_order(1), order1);
  // Windows of 11 tokens: 9 from a 100-token shard, 6 from 70, 12 from 130, none from 8.
  const std::map<int64_t, int64_t> windows = {{0, 9}, {1, 6}, {2, 12}, {3, 0}};
  int64_t per_epoch = 0;
  for (const auto& [shard, n] : windows) per_epoch += n;
  std::vector<int64_t> shards_seen, expected;
  for (int64_t i = 0; i < per_epoch + 1; ++i)
    shards_seen.push_back(loader.next().first[0][0].item<int64_t>() / 1000);
  for (int64_t s : order0) expected.insert(expected.end(), windows.at(s), s);
  expected.push_back(order1[0] == 3 ? order1[1] : order1[0]);  // the next epoch's first
  EXPECT_EQ(shards_seen, expected);
  EXPECT_EQ(loader.state().epoch, 1);
}

TEST_F(TokenLoaderTest, StateRoundTripResumesExactly) {
  DistributedTokenLoader a(paths_, 2, 8, 0, 1, 11);
  for (int i = 0; i < 20; ++i) a.next();  // 18 windows per epoch: into the second
  const LoaderState saved = a.state();
  EXPECT_EQ(saved.epoch, 1);
  DistributedTokenLoader b(paths_, 2, 8, 0, 1, 11);
  b.load_state(saved);
  for (int i = 0; i < 10; ++i) {
    const auto [xa, ya] = a.next();
    const auto [xb, yb] = b.next();
    ASSERT_TRUE(torch::equal(xa, xb)) << "batch " << i;
    ASSERT_TRUE(torch::equal(ya, yb));
  }
  EXPECT_EQ(a.state().shard, b.state().shard);
  EXPECT_EQ(a.state().position, b.state().position);
  testing::expect_error([&] { b.load_state({4, 0, 0}); }, "shard 4 is outside [0, 4)");
  testing::expect_error([&] { b.load_state({0, 1000, 0}); }, "position 1000 is outside shard");
  testing::expect_error([&] { b.load_state({0, 0, -1}); }, "epoch -1 is negative");
}

TEST_F(TokenLoaderTest, ImpossibleConfigurationsFailAtConstruction) {
  testing::expect_error(
      [&] { DistributedTokenLoader(paths_, 4, 40, 0, 1, 0); },
      "one step needs 161 tokens (world_size 1 * device_batch_size 4 * max_seq_len 40 + 1), "
      "but the largest of the 4 training shards holds 130");
  testing::expect_error([&] { DistributedTokenLoader(paths_, 1, 4, 2, 2, 0); },
                        "invalid batch_size 1, seq_len 4, rank 2 of 2");
  testing::expect_error([&] { DistributedTokenLoader({}, 1, 4, 0, 1, 0); }, "no training shards");
  testing::expect_error<std::runtime_error>(
      [&] { DistributedTokenLoader({dir_ + "/missing.bin"}, 1, 4, 0, 1, 0); },
      "cannot open token shard");
  testing::expect_error([&] { DistributedTokenLoader(paths_, 1, 4, 0, 1, 0, {"00000000"}); },
                        "loader: 1 checksums for 4 shards");
}

// A shard whose bytes changed after prepare (one id flipped, size and header intact) is refused
// when the loader opens it, naming the shard; unchanged shards load as before.
TEST_F(TokenLoaderTest, ShardsAreCheckedAgainstTheirChecksumsWhenOpened) {
  std::vector<std::string> crcs;
  for (const auto& path : paths_) crcs.push_back(crc32c_hex(file_crc32c(path)));
  DistributedTokenLoader good(paths_, 2, 4, 0, 1, 5, crcs);
  for (int i = 0; i < 40; ++i) good.next();  // every shard opened: 298 tokens / 8 per step

  std::fstream file(paths_[2], std::ios::binary | std::ios::in | std::ios::out);
  file.seekp(kShardHeaderBytes + 2 * 10);
  file.put('\x07');
  file.close();
  DistributedTokenLoader damaged(paths_, 2, 4, 0, 1, 5, crcs);
  testing::expect_error<std::runtime_error>(
      [&] {
        for (int i = 0; i < 40; ++i) damaged.next();
      },
      "shard_2.bin: CRC-32C " + crc32c_hex(file_crc32c(paths_[2])) +
          ", but manifest.json records " + crcs[2] +
          ": the file changed after `nanotrain prepare` wrote it");
  // Without checksums (llm.c's shards) the same bytes read as tokens.
  DistributedTokenLoader unchecked(paths_, 2, 4, 0, 1, 5);
  for (int i = 0; i < 40; ++i) unchecked.next();
}

}  // namespace
}  // namespace nt
