// Preemption requests: SIGTERM, SIGUSR1 and SIGINT (from ntrun, Slurm or a user) only set a
// flag; the training loop reads it between steps, agrees on it across ranks and saves. One
// exception: a SIGTERM from ntrun stopping a group whose worker failed (ntrun has then created
// the file NANOTRAIN_GROUP_FAILED_FILE names) ends the process at once, since no save can
// complete without the dead rank and the state is in the snapshots and on disk, unless it is in
// the middle of writing a checkpoint, which it finishes first.
#pragma once

namespace nt {

// Exit status of a process that saved and stopped because it was asked to (EX_TEMPFAIL: try
// again later). ntrun passes it through instead of restarting the workers.
constexpr int kExitPreempted = 75;

// Installs the handlers and reads NANOTRAIN_GROUP_FAILED_FILE (idempotent).
void install_preemption_handlers();

// The signal that asked for preemption, or 0.
int preemption_signal();

// While one lives, a failed group's SIGTERM only sets the flag: the checkpoint being written is
// finished first. Nestable; any thread.
class CheckpointWriteGuard {
 public:
  CheckpointWriteGuard();
  ~CheckpointWriteGuard();
  CheckpointWriteGuard(const CheckpointWriteGuard&) = delete;
  CheckpointWriteGuard& operator=(const CheckpointWriteGuard&) = delete;
};

}  // namespace nt
