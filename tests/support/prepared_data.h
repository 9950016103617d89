// The tokenizer and token shards of the ctest fixture `prepared` (`nanotrain prepare` on the
// KJV Bible, vocabulary 1024), and a scoped base directory that uses them.
#pragma once

#include <cstdint>
#include <string>

#include "tests/support/temp_dir.h"

namespace nt::testing {

std::string prepared_dir();       // <test data>/prepared: tokenizer/ and base_data/
std::string prepared_data_dir();  // <test data>/prepared/base_data, for --data_dir
int64_t prepared_vocab_size();

// A fresh NANOTRAIN_BASE_DIR for one test: created with a link to the prepared tokenizer, set
// in the environment, and removed (and the variable unset) when the object goes away.
class ScopedBaseDir {
 public:
  explicit ScopedBaseDir(const std::string& name);
  ~ScopedBaseDir();
  ScopedBaseDir(const ScopedBaseDir&) = delete;
  ScopedBaseDir& operator=(const ScopedBaseDir&) = delete;
  const std::string& path() const { return dir_.path(); }

 private:
  ScopedTempDir dir_;
};

}  // namespace nt::testing
