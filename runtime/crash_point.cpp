// The crash points' trigger. The random mode's generator is seeded per process from the rank and
// the restart count, so that ranks and restarts die at different points, reproducibly.
#include "runtime/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>

namespace nt {

#ifndef NANOTRAIN_TEST_HOOKS

void crash_point(const char*) {}

void check_test_hooks() {
  if (std::getenv("NANOTRAIN_TEST_CRASH_AT"))
    throw std::runtime_error(
        "NANOTRAIN_TEST_CRASH_AT is set, but this build has no test hooks: unset it, or build "
        "with the test suite (-DNANOTRAIN_BUILD_TESTS=ON) or -DNANOTRAIN_TEST_HOOKS=ON");
}

#else

void check_test_hooks() {}

void crash_point(const char* point) {
  const char* target = std::getenv("NANOTRAIN_TEST_CRASH_AT");
  if (!target) return;
  if (std::strncmp(target, "random:", 7) != 0) {
    const char* at = std::strchr(target, '@');
    const size_t length = at ? static_cast<size_t>(at - target) : std::strlen(target);
    if (std::strlen(point) != length || std::strncmp(target, point, length) != 0) return;
    static long reached = 0;  // one target per process: only its point is counted
    if (++reached >= (at ? std::strtol(at + 1, nullptr, 10) : 1)) ::kill(::getpid(), SIGKILL);
    return;
  }
  static std::mt19937_64 rng = [&] {
    auto env_number = [](const char* name) {
      const char* v = std::getenv(name);
      return v ? std::strtoull(v, nullptr, 10) : 0ull;
    };
    const char* seed = std::strchr(target + 7, ':');
    return std::mt19937_64((seed ? std::strtoull(seed + 1, nullptr, 10) : 0ull) * 1000003ull +
                           env_number("RANK") * 1009ull + env_number("TORCHELASTIC_RESTART_COUNT"));
  }();
  const double probability = std::strtod(target + 7, nullptr);
  // A snapshot's copy reaches its point on a thread of its own.
  static std::mutex mutex;
  const std::lock_guard<std::mutex> lock(mutex);
  if (std::uniform_real_distribution<double>(0.0, 1.0)(rng) < probability)
    ::kill(::getpid(), SIGKILL);
}

#endif  // NANOTRAIN_TEST_HOOKS

}  // namespace nt
