// create_new_file: unlink, then an exclusive create that does not follow links.
#include "runtime/new_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace nt {

int create_new_file(const std::string& path) {
  // unlink removes a symlink itself, not its target; a directory of that name makes it fail,
  // and the open below reports it.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT && errno != EISDIR && errno != EPERM)
    throw std::runtime_error("cannot create '" + path + "': " + std::strerror(errno));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create '" + path + "': " + std::strerror(errno));
  return fd;
}

}  // namespace nt
