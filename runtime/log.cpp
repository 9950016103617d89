// Keeps the process's rank for logging and puts it into spdlog's line pattern.
#include "runtime/log.h"

#include <atomic>

namespace nt {
namespace {
std::atomic<int> g_rank{0};
}  // namespace

void set_log_rank(int rank) {
  g_rank = rank;
  spdlog::set_pattern(fmt::format("[%H:%M:%S] [rank {}] %v", rank));
}

int log_rank() { return g_rank; }

}  // namespace nt
