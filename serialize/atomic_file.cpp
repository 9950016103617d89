// POSIX implementation of atomic writes. Every failure names the file and the OS's reason,
// because "No space left on device" is the message a user needs to see.
#include "serialize/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>

#include "runtime/crash_point.h"
#include "runtime/new_file.h"
#include "serialize/crc32c.h"

namespace nt {
namespace {

std::runtime_error os_error(const std::string& what, const std::string& path) {
  return std::runtime_error(what + " '" + path + "': " + std::strerror(errno));
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path)
    : path_(std::move(path)), temp_path_(path_ + kTempSuffix) {
  // The temp name is predictable: a symlink planted under it must not be written through.
  fd_ = create_new_file(temp_path_);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  written_.crc32c = crc32c_extend(written_.crc32c, p, size);
  written_.bytes += size;
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw os_error("cannot write", temp_path_);
    p += n;
    size -= static_cast<size_t>(n);
  }
}

WrittenFile AtomicFileWriter::commit() {
  if (::fsync(fd_) != 0) throw os_error("cannot fsync", temp_path_);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw os_error("cannot close", temp_path_);
  crash_point("before_first_rename");
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) throw os_error("cannot rename", temp_path_);
  committed_ = true;
  return written_;
}

WrittenFile write_file_atomically(const std::string& path, const std::string& contents) {
  AtomicFileWriter writer(path);
  writer.write(contents.data(), contents.size());
  return writer.commit();
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw os_error("cannot open directory", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw os_error("cannot fsync directory", dir);
}

}  // namespace nt
