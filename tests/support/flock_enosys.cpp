// Preloaded into a process (LD_PRELOAD) to stand for a file system without flock, such as
// Lustre mounted without -o flock: every flock call fails with ENOSYS.
#include <cerrno>

extern "C" int flock(int /*fd*/, int /*operation*/) noexcept {
  errno = ENOSYS;
  return -1;
}
