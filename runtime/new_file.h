// Creating a file in a directory that someone else may have written into (a checkpoint
// directory copied from elsewhere, a shared log directory) without writing through a symlink
// planted under the file's name.
#pragma once

#include <string>

namespace nt {

// Opens `path` for writing as a new, empty regular file (mode 0644 less the umask) and returns
// its descriptor. Whatever entry had that name (a leftover of an earlier run, or a symlink) is
// removed first, never followed; O_EXCL | O_NOFOLLOW turn a race that puts one back into an
// error. Throws std::runtime_error "cannot create '<path>': <reason>".
int create_new_file(const std::string& path);

}  // namespace nt
