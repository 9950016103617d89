// The run's metrics, written by rank 0: one JSON object per line in <checkpoint dir>/metrics.jsonl
// for every step ({"step", "loss", "smooth_loss", "lrm", "dt", "tok_per_sec", "mfu"}) and every
// evaluation ({"step", "val_bpb"}), which `nanotrain plot` draws; and the same figures as
// TensorBoard scalars (train/loss, train/smooth_loss, train/lrm, train/tok_per_sec, train/mfu,
// val/bpb) in an event file of the run's TensorBoard folder.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

namespace nt {

class EventFileWriter;

class MetricsLog {
 public:
  // Opens <dir>/metrics.jsonl for appending (a resumed run continues the file) and, unless
  // `tensorboard_dir` is empty, a new event file there. `first_step` is the first step this run
  // logs: TensorBoard then drops what earlier files logged from that step on (a crashed run's
  // steps after the checkpoint this run resumed from), so each step is plotted once. An empty
  // `dir` makes a log that writes nothing (ranks other than 0).
  MetricsLog(const std::string& dir, const std::string& tensorboard_dir, int64_t first_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // A record with an integer "step"; its known figures also go to TensorBoard.
  void append(const nlohmann::json& record);

 private:
  std::FILE* file_ = nullptr;
  std::unique_ptr<EventFileWriter> events_;
};

}  // namespace nt
