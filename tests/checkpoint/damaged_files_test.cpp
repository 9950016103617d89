// Damaged checkpoints: every kind of damage gets an error naming the file and what was
// expected, and find_last_step skips steps that are not complete.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "checkpoint/step_dir.h"
#include "tests/checkpoint/checkpoint_fixture.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class DamagedFilesTest : public CheckpointTest {
 protected:
  void SetUp() override {
    CheckpointTest::SetUp();
    save_trained_step(1);
    save_trained_step(2);
    model_path_ = dir_ + "/model_000002.pt";
    meta_path_ = dir_ + "/meta_000002.json";
  }
  std::string model_path_, meta_path_;
};

TEST_F(DamagedFilesTest, TruncatedFileIsNotComplete) {
  fs::resize_file(model_path_, fs::file_size(model_path_) / 2);
  EXPECT_EQ(find_last_step(dir_), 1);
  expect_runtime_error([&] { load_checkpoint(dir_, 2, torch::kCPU); }, model_path_ + ": expected ");
}

TEST_F(DamagedFilesTest, ZeroLengthFileIsNotComplete) {
  fs::resize_file(dir_ + "/optim_000002.pt", 0);
  EXPECT_EQ(find_last_step(dir_), 1);
  expect_runtime_error([&] { load_checkpoint(dir_, 2, torch::kCPU, true); }, "found 0");
}

TEST_F(DamagedFilesTest, BitFlipFailsChecksum) {
  std::string bytes = read_text(model_path_);
  bytes[bytes.size() / 2] ^= 0x10;
  write_text(model_path_, bytes);
  expect_runtime_error([&] { load_checkpoint(dir_, 2, torch::kCPU); },
                       model_path_ + ": checksum mismatch: expected crc32c ");
  // Sizes still match, so the step looks complete until its checksums are read.
  EXPECT_EQ(find_last_step(dir_), 2);
}

TEST_F(DamagedFilesTest, UnreadableArchiveNamesTheFile) {
  write_text(model_path_, std::string(fs::file_size(model_path_), 'x'));
  expect_runtime_error([&] { load_checkpoint(dir_, 2, torch::kCPU, false, /*verify=*/false); },
                       "cannot read '" + model_path_ + "' as a torch.save file");
}

TEST_F(DamagedFilesTest, MetaDamageIsNamed) {
  const std::string good = read_text(meta_path_);
  const std::pair<std::string, std::string> cases[] = {
      {"{\"step\": 2", "invalid JSON"},
      {good + "garbage", "invalid JSON"},
      {"[1, 2]", "expected a JSON object"},
      {R"({"model_config": {}, "files": {}})", "missing key 'step'"},
      {R"({"step": "2", "model_config": {}, "files": {}})", "key 'step': expected an integer"},
      {R"({"step": -2, "model_config": {}, "files": {}})",
       "key 'step': expected a non-negative 64-bit integer, found -2"},
      {R"({"step": 9223372036854775808, "model_config": {}, "files": {}})",
       "key 'step': expected a non-negative 64-bit integer, found 9223372036854775808"},
      {R"({"step": 1e400, "model_config": {}, "files": {}})",
       "invalid JSON: [json.exception.out_of_range.406] number overflow"},
      {R"({"step": 99999999999999999999, "model_config": {}, "files": {}})",
       "key 'step': expected an integer, found 1e+20"},
      {R"({"step": 2.0, "model_config": {}, "files": {}})", "key 'step': expected an integer"},
      {R"({"step": 2, "model_config": [], "files": {}})", "key 'model_config': expected an object"},
      {R"({"step": 2, "model_config": {}, "files": {"model_000002.pt": {"bytes": -5, "crc32c": "00000000"}}})",
       "files.model_000002.pt: key 'bytes': expected a non-negative integer"},
      {R"({"step": 2, "model_config": {}, "files": {"../x": {"bytes": 1, "crc32c": "00000000"}}})",
       "'../x' is not a file name"},
  };
  for (const auto& [text, needle] : cases) {
    write_text(meta_path_, text);
    expect_runtime_error([&] { load_checkpoint(dir_, 2, torch::kCPU); }, meta_path_ + ": ");
    expect_runtime_error([&] { load_checkpoint(dir_, 2, torch::kCPU); }, needle);
    EXPECT_EQ(find_last_step(dir_), 1) << text;
  }
}

TEST_F(DamagedFilesTest, MetaWithAHugeFileSizeIsNotComplete) {
  auto meta = nlohmann::json::parse(read_text(meta_path_));
  meta["files"]["model_000002.pt"]["bytes"] = std::numeric_limits<uint64_t>::max();
  write_text(meta_path_, meta.dump());
  EXPECT_EQ(find_last_step(dir_), 1);
  expect_runtime_error([&] { load_checkpoint(dir_, 2, torch::kCPU); },
                       model_path_ + ": expected 18446744073709551615 bytes, found ");
}

TEST_F(DamagedFilesTest, MetaNamingMissingFileIsNotComplete) {
  fs::remove(dir_ + "/optim_000002.pt");
  EXPECT_EQ(find_last_step(dir_), 1);
  expect_runtime_error([&] { load_checkpoint(dir_, 2, torch::kCPU); },
                       dir_ + "/optim_000002.pt: missing (named in the step's meta)");
}

TEST_F(DamagedFilesTest, BadModelConfigIsNamed) {
  auto meta = nlohmann::json::parse(read_text(meta_path_));
  meta["model_config"]["n_head"] = 3;
  write_text(meta_path_, meta.dump());
  expect_runtime_error([&] { build_model(dir_, 2, torch::kCPU, "eval"); },
                       "n_head (3) must divide n_embd (128)");
  meta["model_config"].erase("n_layer");
  write_text(meta_path_, meta.dump());
  expect_runtime_error([&] { build_model(dir_, 2, torch::kCPU, "eval"); },
                       "model_config: missing keys n_layer");
}

TEST_F(CheckpointTest, MissingDirectoryAndFileInsteadOfDirectory) {
  expect_runtime_error([&] { find_last_step(dir_ + "/nope"); }, "does not exist");
  fs::create_directories(dir_);
  write_text(dir_ + "/file", "x");
  expect_runtime_error([&] { find_last_step(dir_ + "/file"); }, "is not a directory");
  expect_runtime_error([&] { load_checkpoint(dir_ + "/nope", 1, torch::kCPU); },
                       "cannot open meta file '" + dir_ + "/nope/meta_000001.json'");
  expect_runtime_error([&] { find_last_step(dir_); }, "no complete checkpoint in '" + dir_ + "'");
}

// A directory that cannot be listed: a symbolic-link loop (which fails even for root), and one
// without read permission when the tests do not run as root.
TEST_F(CheckpointTest, UnreadableDirectoryIsAClearError) {
  fs::create_directories(dir_);
  const std::string loop = dir_ + "/loop";
  fs::create_directory_symlink(loop, loop);
  expect_runtime_error([&] { find_last_step(loop); },
                       "'" + loop + "': Too many levels of symbolic links");
  if (::geteuid() == 0) return;
  const std::string locked = dir_ + "/locked";
  fs::create_directories(locked);
  fs::permissions(locked, fs::perms::none);
  expect_runtime_error([&] { find_last_step(locked); },
                       "cannot list '" + locked + "': Permission denied");
  fs::permissions(locked, fs::perms::owner_all);
}

}  // namespace
}  // namespace nt
