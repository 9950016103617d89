// publish_directory, the last step of `nanotrain prepare`: the target is the old data or the new,
// whole, at every moment, and nothing of the old data or the staging directory is left.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/prepare.h"
#include "tests/support/expect_error.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

class PublishDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/nanotrain_publish_" + std::to_string(::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string make_dir(const std::string& name, const std::string& file,
                       const std::string& text) const {
    const std::string dir = root_ + "/" + name;
    fs::create_directories(dir);
    std::ofstream(dir + "/" + file) << text;
    return dir;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string root_;
};

TEST_F(PublishDirectory, MovesIntoAnAbsentTarget) {
  const std::string staging = make_dir("base_data.partial-1", "manifest.json", "new");
  publish_directory(staging, root_ + "/base_data");
  EXPECT_EQ(read(root_ + "/base_data/manifest.json"), "new");
  EXPECT_FALSE(fs::exists(staging));
}

TEST_F(PublishDirectory, SwapsWithAnExistingTargetAndRemovesTheOldData) {
  make_dir("base_data", "shard_00007.bin", "old");
  const std::string staging = make_dir("base_data.partial-2", "manifest.json", "new");
  publish_directory(staging, root_ + "/base_data");
  EXPECT_EQ(read(root_ + "/base_data/manifest.json"), "new");
  EXPECT_FALSE(fs::exists(root_ + "/base_data/shard_00007.bin")) << "old data mixed in";
  EXPECT_FALSE(fs::exists(staging)) << "the old data was left in the staging directory";
}

TEST_F(PublishDirectory, AMissingStagingDirectoryIsANamedError) {
  make_dir("base_data", "manifest.json", "old");
  testing::expect_error<std::runtime_error>(
      [&] { publish_directory(root_ + "/absent", root_ + "/base_data"); },
      "cannot swap '" + root_ + "/absent' into '" + root_ + "/base_data'");
  EXPECT_EQ(read(root_ + "/base_data/manifest.json"), "old");
}

}  // namespace
}  // namespace nt
