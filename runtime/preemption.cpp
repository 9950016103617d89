// Async-signal-safe preemption flag, and the immediate exit of a failed group's workers: the
// handler uses only atomics, access() and _exit(), all async-signal-safe.
#include "runtime/preemption.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace nt {
namespace {

std::atomic<int> g_signal{0};
std::atomic<int> g_writing{0};  // live CheckpointWriteGuards
char g_group_failed_file[4096] = "";

void on_signal(int sig) {
  g_signal = sig;
  if (sig == SIGTERM && g_writing.load() == 0 && g_group_failed_file[0] != '\0' &&
      ::access(g_group_failed_file, F_OK) == 0)
    ::_exit(128 + SIGTERM);  // as if the signal had ended it
}

}  // namespace

void install_preemption_handlers() {
  // Read once, here, so that the handler only reads a buffer.
  const char* file = std::getenv("NANOTRAIN_GROUP_FAILED_FILE");
  if (file && std::strlen(file) < sizeof(g_group_failed_file))
    std::memcpy(g_group_failed_file, file, std::strlen(file) + 1);
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGTERM, SIGUSR1, SIGINT}) sigaction(sig, &action, nullptr);
}

int preemption_signal() {
  return g_signal;
}

CheckpointWriteGuard::CheckpointWriteGuard() {
  ++g_writing;
}

CheckpointWriteGuard::~CheckpointWriteGuard() {
  --g_writing;
}

}  // namespace nt
