// Base directories for tests: unique per test and process, so tests can run in parallel.
#include "tests/support/prepared_data.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "data/tokenizer.h"
#include "tests/support/tensor_bundle.h"

namespace nt::testing {

std::string prepared_dir() {
  return test_data_dir() + "/prepared";
}

std::string prepared_data_dir() {
  return prepared_dir() + "/base_data";
}

int64_t prepared_vocab_size() {
  static const int64_t size = Tokenizer::from_dir(prepared_dir() + "/tokenizer").vocab_size();
  return size;
}

ScopedBaseDir::ScopedBaseDir(const std::string& name)
    : path_(::testing::TempDir() + "/nanotrain_" + name + "_" + std::to_string(::getpid())) {
  std::replace(path_.begin() + ::testing::TempDir().size(), path_.end(), '/', '_');
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
  std::filesystem::create_directory_symlink(prepared_dir() + "/tokenizer", path_ + "/tokenizer");
  setenv("NANOTRAIN_BASE_DIR", path_.c_str(), 1);
}

ScopedBaseDir::~ScopedBaseDir() {
  unsetenv("NANOTRAIN_BASE_DIR");
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace nt::testing
