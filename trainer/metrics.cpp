// Line-buffered JSONL and flushed event records: each record reaches its file when written, so
// a killed run keeps its history up to the last step and TensorBoard follows a live one.
#include "trainer/metrics.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>
#include <vector>

#include "serialize/tf_event.h"

namespace nt {
namespace {

// metrics.jsonl's keys and their TensorBoard tags.
constexpr std::pair<const char*, const char*> kTags[] = {
    {"loss", "train/loss"}, {"smooth_loss", "train/smooth_loss"},
    {"lrm", "train/lrm"},   {"tok_per_sec", "train/tok_per_sec"},
    {"mfu", "train/mfu"},   {"val_bpb", "val/bpb"}};

}  // namespace

MetricsLog::MetricsLog(const std::string& dir, const std::string& tensorboard_dir,
                       int64_t first_step) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = dir + "/metrics.jsonl";
  file_ = std::fopen(path.c_str(), "a");
  if (!file_)
    throw std::runtime_error("cannot open '" + path + "' for appending: " + std::strerror(errno));
  if (tensorboard_dir.empty()) return;
  events_ = std::make_unique<EventFileWriter>(tensorboard_dir);
  events_->write(event_with_session_start(wall_time_now(), first_step));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::append(const nlohmann::json& record) {
  if (!file_) return;
  const std::string line = record.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
  if (!events_) return;
  std::vector<std::pair<std::string, double>> scalars;
  for (const auto& [key, tag] : kTags)
    if (record.contains(key)) scalars.emplace_back(tag, record[key].get<double>());
  if (!scalars.empty())
    events_->write(event_with_scalars(wall_time_now(), record.at("step").get<int64_t>(), scalars));
}

}  // namespace nt
