// The protobuf wire format, by hand for the few fields an event needs: a key is
// (field << 3 | wire type), then a varint, 4 or 8 little-endian bytes, or a length and bytes.
#include "serialize/tf_event.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "serialize/crc32c.h"

namespace nt {
namespace {

constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;
constexpr const char* kFilePrefix = "events.out.tfevents.";

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<uint64_t>(field << 3 | wire_type));
}

template <typename T>
void put_little_endian(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));  // every machine nanotrain builds on is little-endian
  out.append(bytes, sizeof(T));
}

void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event fields 1 (wall_time) and 2 (step), which every event starts with.
std::string event_header(double wall_time, int64_t step) {
  std::string event;
  put_key(event, 1, kFixed64);
  put_little_endian(event, wall_time);
  if (step != 0) {  // proto3 leaves a default out, as protobuf's own serializer does
    put_key(event, 2, kVarint);
    put_varint(event, static_cast<uint64_t>(step));
  }
  return event;
}

// TFRecord's mask, so that a CRC stored inside CRC'd data does not look like one.
uint32_t masked_crc(const std::string& bytes) {
  const uint32_t crc = crc32c_extend(0, bytes.data(), bytes.size());
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

// The seconds field of an existing event file's name, or 0 for another name.
long long name_seconds(const std::string& name) {
  if (name.rfind(kFilePrefix, 0) != 0) return 0;
  return std::atoll(name.c_str() + std::strlen(kFilePrefix));
}

}  // namespace

std::string tf_record(const std::string& data) {
  std::string length;
  put_little_endian(length, static_cast<uint64_t>(data.size()));
  std::string record = length;
  put_little_endian(record, masked_crc(length));
  record += data;
  put_little_endian(record, masked_crc(data));
  return record;
}

std::string event_with_file_version(double wall_time) {
  std::string event = event_header(wall_time, 0);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

std::string event_with_session_start(double wall_time, int64_t step) {
  std::string session_log;
  put_key(session_log, 1, kVarint);  // status
  put_varint(session_log, 1);        // START
  std::string event = event_header(wall_time, step);
  put_bytes(event, 7, session_log);
  return event;
}

std::string event_with_scalars(double wall_time, int64_t step,
                               const std::vector<std::pair<std::string, double>>& scalars) {
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string entry;
    put_bytes(entry, 1, tag);
    put_key(entry, 2, kFixed32);  // simple_value
    put_little_endian(entry, static_cast<float>(value));
    put_bytes(summary, 1, entry);
  }
  std::string event = event_header(wall_time, step);
  put_bytes(event, 5, summary);
  return event;
}

double wall_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

EventFileWriter::EventFileWriter(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  long long seconds = static_cast<long long>(wall_time_now());
  // A restart within the same second (or after the clock went back) must still sort last.
  for (const auto& entry : fs::directory_iterator(dir, ec))
    seconds = std::max(seconds, name_seconds(entry.path().filename().string()) + 1);
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  path_ = dir + "/" + kFilePrefix + std::to_string(seconds) + "." + host;
  file_ = std::fopen(path_.c_str(), "wbx");
  if (!file_) throw std::runtime_error("cannot create '" + path_ + "': " + std::strerror(errno));
  write(event_with_file_version(wall_time_now()));
}

EventFileWriter::~EventFileWriter() {
  if (file_) std::fclose(file_);
}

void EventFileWriter::write(const std::string& event) {
  const std::string record = tf_record(event);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() ||
      std::fflush(file_) != 0)
    throw std::runtime_error("cannot write '" + path_ + "': " + std::strerror(errno));
}

}  // namespace nt
