// Preemption requests: SIGTERM, SIGUSR1 and SIGINT (from ntrun, Slurm or a user) only set a
// flag; the training loop reads it between steps, agrees on it across ranks and saves.
#pragma once

namespace nt {

// Exit status of a process that saved and stopped because it was asked to (EX_TEMPFAIL: try
// again later). ntrun passes it through instead of restarting the workers.
constexpr int kExitPreempted = 75;

// Installs the handlers (idempotent).
void install_preemption_handlers();

// The signal that asked for preemption, or 0.
int preemption_signal();

}  // namespace nt
