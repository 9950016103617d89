// TensorBoard's event files, written without TensorFlow: each record is TFRecord framing
// (uint64 length, masked CRC-32C of the length, the bytes, masked CRC-32C of the bytes) around
// a protobuf `Event` (wall_time, step, and a file_version, a Summary of simple values, or a
// SessionLog), encoded by hand. TensorBoard reads every events.out.tfevents.* file of a folder
// in name order.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace nt {

// TFRecord's framing of one record's bytes.
std::string tf_record(const std::string& data);

// Serialized `Event` protos. wall_time: seconds since the epoch.
std::string event_with_file_version(double wall_time);  // file_version "brain.Event:2"
// SessionLog START at `step`: TensorBoard drops every earlier-written event of step >= `step`,
// the steps a crashed run logged after the checkpoint its successor resumed from.
std::string event_with_session_start(double wall_time, int64_t step);
// A Summary of simple (float) values, one per (tag, value).
std::string event_with_scalars(double wall_time, int64_t step,
                               const std::vector<std::pair<std::string, double>>& scalars);

// One new event file in a folder, opened on construction with its file_version record. Each
// record is flushed when written, so that TensorBoard shows a live run and a killed run keeps
// what it logged.
class EventFileWriter {
 public:
  // Creates `dir` if needed and opens events.out.tfevents.<seconds>.<host> in it, the seconds
  // later than every event file already there so that name order is write order. Throws
  // std::runtime_error naming the path when it cannot.
  explicit EventFileWriter(const std::string& dir);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  void write(const std::string& event);  // a serialized Event from the functions above
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// Seconds since the epoch, as event wall times count them.
double wall_time_now();

}  // namespace nt
