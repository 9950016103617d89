// One node's workers for one attempt: started with torchrun's environment in their own process
// groups, their output carried to log files and the console (--redirects, --tee), watched until
// they all succeed or one fails, and stopped with SIGTERM then SIGKILL. Workers die with the
// agent (PR_SET_PDEATHSIG), so none outlives it.
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

// Where one attempt's workers sit in the job, as the rendezvous decided it.
struct Membership {
  int node_rank = 0;        // GROUP_RANK
  int nnodes = 1;           // GROUP_WORLD_SIZE
  std::string master_addr;  // the store every worker joins (hosted by node 0's agent)
  int master_port = 0;
};

struct WorkerFailure {
  std::string time;  // UTC
  int rank = 0, local_rank = 0;
  pid_t pid = 0;
  int exit_code = 0;  // when it exited
  int signal = 0;     // when a signal ended it
  std::vector<std::string> stderr_tail;
  std::string error_file;     // TORCHELASTIC_ERROR_FILE
  std::string error_message;  // what the worker wrote there (torchrun's format), if anything
};

class WorkerGroup {
 public:
  enum class State { kRunning, kSucceeded, kFailed };

  // `restart_count` is this attempt's TORCHELASTIC_RESTART_COUNT. Log and error files go under
  // `run_dir`/attempt_<restart_count>/<rank>/.
  WorkerGroup(const LaunchConfig& config, int restart_count, const Membership& membership,
              std::string run_dir);
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
  // stop() for a group that failed: first creates the file the workers know as
  // NANOTRAIN_GROUP_FAILED_FILE, so that a nanotrain worker ends at its SIGTERM instead of
  // training on to a collective that cannot complete (other programs see a plain SIGTERM).
  void stop_failed(double timeout_s);

  const std::optional<WorkerFailure>& first_failure() const { return failure_; }

 private:
  struct Worker {
    int rank = 0, local_rank = 0;
    pid_t pid = -1;
    bool alive = false;
    int out_fd = -1, err_fd = -1;  // read ends of the worker's stdout and stderr pipes
    std::string out_partial, err_partial;
    int out_log = -1, err_log = -1;
    bool out_console = true, err_console = true;
    bool tee_prefix = false;  // console lines start with "[rank N]: "
    std::string error_file;
    std::deque<std::string> err_tail;
  };
  void drain(Worker& w, bool is_err, bool flush_partial);
  void emit_line(Worker& w, bool is_err, const std::string& line);
  void reap(bool* any_failed);

  const LaunchConfig& config_;
  int restart_count_;
  Membership membership_;
  std::string run_dir_;
  std::string group_failed_file_;  // <run_dir>/attempt_<restart_count>/group_failed
  std::vector<Worker> workers_;
  std::optional<WorkerFailure> failure_;
};

}  // namespace nt
