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

int log_rank() {
  return g_rank;
}

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return value < 0 ? "-" + digits : digits;
}

}  // namespace nt
