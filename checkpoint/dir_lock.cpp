// flock-based directory lock. The pid/host text is for people: the kernel lock is the truth.
#include "checkpoint/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "runtime/log.h"
#include "serialize/atomic_file.h"

namespace nt {
namespace {

// The "pid N on HOST" a run wrote, or "" for anything else: the file's bytes reach the log only
// when they are such a line.
std::string recorded_holder(int fd) {
  char text[300] = {};
  const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
  if (n <= 0) return "";
  const std::string holder(text, static_cast<size_t>(n));
  static const std::regex kHolder("pid [0-9]{1,10} on [A-Za-z0-9._-]{1,255}");
  return std::regex_match(holder, kHolder) ? holder : "";
}

}  // namespace

DirLock::DirLock(const std::string& dir) : path_(dir + "/lock") {
  std::error_code ec;
  // A new directory's entry lives in its parent: fsync that, or a crash can lose the directory
  // with every checkpoint later written into it.
  if (std::filesystem::create_directories(dir, ec)) {
    const std::filesystem::path parent =
        std::filesystem::absolute(std::filesystem::path(dir), ec).lexically_normal();
    fsync_directory(parent.has_relative_path() ? parent.parent_path().string() : "/");
  }
  // The lock file outlives runs (replacing it would let two runs lock two files), so it is
  // opened in place: never through a symlink, and only if it is a regular file, because it is
  // truncated below. A directory copied from elsewhere may hold anything under this name.
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0 && errno == ELOOP)
    throw std::runtime_error(fmt::format(
        "lock file '{}' is a symbolic link; refusing to follow it (remove it if the directory "
        "is yours)",
        path_));
  if (fd_ < 0)
    throw std::runtime_error(
        fmt::format("cannot open lock file '{}': {}", path_, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(
        fmt::format("lock file '{}' is not a regular file; refusing to use it", path_));
  }
  const std::string holder = recorded_holder(fd_);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK)
      throw std::runtime_error(fmt::format(
          "cannot lock '{}': {}: the file system does not support flock (Lustre mounted "
          "without -o flock, some NFS setups); mount it with flock support or put the "
          "checkpoints on one that has it",
          path_, std::strerror(error)));
    throw std::runtime_error(fmt::format(
        "checkpoint directory '{}' is in use by another run ({}); refusing to write into it", dir,
        holder.empty() ? "holder unknown" : holder));
  }
  if (!holder.empty())
    spdlog::warn("taking over the lock of '{}' from a run that is gone ({})", dir, holder);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::string me = fmt::format("pid {} on {}", getpid(), host);
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) < 0)
    spdlog::warn("cannot record the owner in '{}': {}", path_, std::strerror(errno));
}

DirLock::~DirLock() {
  if (fd_ < 0) return;
  // Empty the file before unlocking, so the next run does not report a dead holder.
  if (::ftruncate(fd_, 0) != 0) spdlog::warn("cannot clear lock file '{}'", path_);
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace nt
