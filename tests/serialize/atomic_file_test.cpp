// Atomic writes in a directory from elsewhere: a symlink planted under the predictable temp
// name (<file>.tmp) is replaced, not written through, and a crashed run's leftover temp file
// does not stop the next write.
#include "serialize/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace nt {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(AtomicFile, PlantedTempSymlinkIsNotWrittenThrough) {
  testing::ScopedTempDir dir("atomic_symlink");
  const std::string precious = dir.path() + "/precious";
  std::ofstream(precious) << "precious";
  const std::string file = dir.path() + "/model_config.json";
  std::filesystem::create_symlink(precious, file + kTempSuffix);
  write_file_atomically(file, "{}");
  EXPECT_EQ(read_file(precious), "precious");
  EXPECT_EQ(read_file(file), "{}");
  EXPECT_FALSE(std::filesystem::is_symlink(file));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(file + kTempSuffix)));
}

TEST(AtomicFile, LeftoverTempFileIsReplaced) {
  testing::ScopedTempDir dir("atomic_leftover");
  const std::string file = dir.path() + "/meta_000001.json";
  std::ofstream(file + kTempSuffix) << "half a file from a crashed run";
  write_file_atomically(file, "whole");
  EXPECT_EQ(read_file(file), "whole");
  EXPECT_FALSE(std::filesystem::exists(file + kTempSuffix));
}

}  // namespace
}  // namespace nt
