// Keeps the process's rank for logging and puts it into spdlog's line pattern.
#include "runtime/log.h"

#include <atomic>
#include <ctime>

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

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return value < 0 ? "-" + digits : digits;
}

}  // namespace nt
