// A fresh directory for one test: named after the test and the process (so tests can run in
// parallel), created empty, and removed with everything in it when the object goes away.
#pragma once

#include <string>

namespace nt::testing {

class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix);
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace nt::testing
