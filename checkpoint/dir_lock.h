// One writer per checkpoint directory: a lock file holding the writer's pid and host, held with
// flock so that it is released by the kernel when the process dies, however it dies.
#pragma once

#include <string>

namespace nt {

class DirLock {
 public:
  // Creates the directory if needed (and fsyncs its parent then) and takes <dir>/lock. Throws
  // std::runtime_error naming the pid and host that hold it when another live process does, and
  // saying so when the file system cannot flock at all (ENOSYS, ENOLCK, ...). A lock file left
  // by a dead process is taken over with a warning.
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace nt
