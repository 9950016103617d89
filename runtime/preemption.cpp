// Async-signal-safe preemption flag.
#include "runtime/preemption.h"

#include <signal.h>

#include <atomic>
#include <initializer_list>

namespace nt {
namespace {

std::atomic<int> g_signal{0};

void on_signal(int sig) {
  g_signal = sig;
}

}  // namespace

void install_preemption_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGTERM, SIGUSR1, SIGINT}) sigaction(sig, &action, nullptr);
}

int preemption_signal() {
  return g_signal;
}

}  // namespace nt
