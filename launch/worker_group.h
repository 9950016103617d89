// One node's workers for one attempt: started with torchrun's environment in their own process
// groups, their output carried to log files and the console, watched until they all succeed
// or one fails, and stopped with SIGTERM then SIGKILL. Workers die with the agent
// (PR_SET_PDEATHSIG), so none outlives it.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "launch/launch_config.h"

namespace nt {

// OMP_NUM_THREADS for each of `nproc` workers when the user set none: the CPUs this agent may
// run on (its affinity mask, as Slurm's --cpus-per-task or taskset set it) shared out, at least 1.
int threads_per_worker(int nproc);

struct WorkerFailure {
  std::string time;  // UTC
  int rank = 0, local_rank = 0;
  pid_t pid = 0;
  int exit_code = 0;  // when it exited
  int signal = 0;     // when a signal ended it
  std::vector<std::string> stderr_tail;
};

class WorkerGroup {
 public:
  enum class State { kRunning, kSucceeded, kFailed };

  // `restart_count` is this attempt's TORCHELASTIC_RESTART_COUNT; `master_port` the workers' store.
  WorkerGroup(const LaunchConfig& config, int restart_count, int master_port);
  ~WorkerGroup();  // kills what is still running
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  // Throws std::runtime_error when a worker cannot be started (log dir, fork).
  void start();
  // Carries output and reaps exits for up to `wait_s` seconds. kFailed as soon as one worker
  // exits non-zero or by a signal; kSucceeded when all exited 0.
  State poll(double wait_s);
  // Sends `sig` to every live worker's process group.
  void signal_all(int sig);
  // `sig` (once) to every live worker, up to `timeout_s` for them to exit, then SIGKILL.
  void stop(double timeout_s, int sig = SIGTERM);

  const std::optional<WorkerFailure>& first_failure() const { return failure_; }

 private:
  struct Worker {
    int rank = 0, local_rank = 0;
    pid_t pid = -1;
    bool alive = false;
    int out_fd = -1, err_fd = -1;  // read ends of the worker's stdout and stderr pipes
    std::string out_partial, err_partial;
    int out_log = -1, err_log = -1;
    std::deque<std::string> err_tail;
  };
  void drain(Worker& w, bool is_err, bool flush_partial);
  void emit_line(Worker& w, bool is_err, const std::string& line);
  void reap(bool* any_failed);

  const LaunchConfig& config_;
  int restart_count_, master_port_;
  std::vector<Worker> workers_;
  std::optional<WorkerFailure> failure_;
};

}  // namespace nt
