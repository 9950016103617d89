// Line-buffered JSONL: each record reaches the file when written, so a killed run keeps its
// history up to the last step.
#include "trainer/metrics.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace nt {

MetricsLog::MetricsLog(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = dir + "/metrics.jsonl";
  file_ = std::fopen(path.c_str(), "a");
  if (!file_)
    throw std::runtime_error("cannot open '" + path + "' for appending: " + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::append(const nlohmann::json& record) {
  if (!file_) return;
  const std::string line = record.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace nt
