// Crash-safe file writes: contents go to "<path>.tmp" in the same directory, are fsync'd and
// then renamed over <path>, so a reader sees either no file or the whole file. Also the
// directory fsync that makes renames durable. (The save protocol's crash points are in
// runtime/crash_point.h.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace nt {

// Suffix of temporary files; anything ending in it in a checkpoint directory is a leftover.
constexpr const char* kTempSuffix = ".tmp";

struct WrittenFile {
  uint64_t bytes = 0;
  uint32_t crc32c = 0;
};

class AtomicFileWriter {
 public:
  // Creates <path>.tmp (replacing a leftover). Throws std::runtime_error naming it on failure.
  explicit AtomicFileWriter(std::string path);
  // Removes the temporary file unless commit() succeeded.
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Appends bytes; throws std::runtime_error naming the path and the OS error (e.g. disk full).
  void write(const void* data, size_t size);
  // fsync, close and rename over the final path. Returns the size and CRC-32C written.
  WrittenFile commit();

  const std::string& path() const { return path_; }

 private:
  std::string path_, temp_path_;
  int fd_ = -1;
  WrittenFile written_;
  bool committed_ = false;
};

// Writes a whole string atomically.
WrittenFile write_file_atomically(const std::string& path, const std::string& contents);

// fsync of a directory, so that renames and unlinks in it survive a power loss.
void fsync_directory(const std::string& dir);

}  // namespace nt
