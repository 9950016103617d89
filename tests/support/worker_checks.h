// Checks for multi-process test workers, which report through stderr and their exit code: each
// failed check prints "rank R: FAILED what"; exit_code() is 0 only when none failed.
#pragma once

#include <cstdio>
#include <string>

namespace nt::testing {

class WorkerChecks {
 public:
  explicit WorkerChecks(int rank) : rank_(rank) {}

  void expect(bool ok, const std::string& what) {
    if (ok) return;
    std::fprintf(stderr, "rank %d: FAILED %s\n", rank_, what.c_str());
    ++failures_;
  }

  // Prints "rank R: ok" when every check passed.
  int exit_code() const {
    if (failures_ == 0) std::printf("rank %d: ok\n", rank_);
    return failures_ == 0 ? 0 : 1;
  }

 private:
  int rank_;
  int failures_ = 0;
};

}  // namespace nt::testing
