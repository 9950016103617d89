// The run's metrics: one JSON object per line in <checkpoint dir>/metrics.jsonl, appended by
// rank 0 for every step ({"step", "loss", "lrm", "dt", "tok_per_sec"}) and every evaluation
// ({"step", "val_bpb"}). `nanotrain plot` draws them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

namespace nt {

class MetricsLog {
 public:
  // Opens <dir>/metrics.jsonl for appending (a resumed run continues the file). An empty `dir`
  // makes a log that writes nothing (ranks other than 0).
  explicit MetricsLog(const std::string& dir);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  void append(const nlohmann::json& record);

 private:
  std::FILE* file_ = nullptr;
};

}  // namespace nt
