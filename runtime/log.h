// Logging for every nanotrain process: log0 for messages only rank 0 should print (nanochat's
// print0); plain spdlog calls for per-rank lines. Every line carries the process's rank.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <utility>

namespace nt {

// Sets the rank shown in every log line and used by log0 (default 0). Call once at start-up,
// before other threads log.
void set_log_rank(int rank);
int log_rank();

// Logs at info level from rank 0 only.
template <typename... Args>
void log0(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (log_rank() == 0) spdlog::info(fmt, std::forward<Args>(args)...);
}

// The current time as ISO 8601 UTC, "2026-11-30T01:23:45Z".
std::string utc_timestamp();

// 12345678 -> "12,345,678", as Python's "{:,}" formats it.
std::string with_commas(int64_t value);

}  // namespace nt
