// Reads of environ and getenv for the launcher. Nothing is cached: a launcher sets variables
// for its workers after start-up, and each call sees the current state.
#include "runtime/environment.h"

#include <unistd.h>

#include <cstdlib>

namespace nt {

std::map<std::string, std::string> environment_variables() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

bool environment_has(const char* name) {
  return std::getenv(name) != nullptr;
}

std::string temp_directory() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

std::string library_dir_override() {
  const char* dir = std::getenv("NANOTRAIN_LIBDIR");
  return dir ? dir : "";
}

std::string get_base_dir() {
  if (const char* dir = std::getenv("NANOTRAIN_BASE_DIR"); dir && *dir) return dir;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/nanotrain";
}

}  // namespace nt
