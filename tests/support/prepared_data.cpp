// The prepared fixture data and base directories that point at it.
#include "tests/support/prepared_data.h"

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

ScopedBaseDir::ScopedBaseDir(const std::string& name) : dir_(name) {
  std::filesystem::create_directory_symlink(prepared_dir() + "/tokenizer", path() + "/tokenizer");
  setenv("NANOTRAIN_BASE_DIR", path().c_str(), 1);
}

ScopedBaseDir::~ScopedBaseDir() {
  unsetenv("NANOTRAIN_BASE_DIR");
}

}  // namespace nt::testing
