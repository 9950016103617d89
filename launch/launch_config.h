// ntrun's command line: torchrun's flags (both spellings, --nproc_per_node and
// --nproc-per-node), then the program and its arguments.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace nt {

// Which of a worker's streams go where, as torchrun's --redirects and --tee take them: one
// value for every local rank ("3"), or per local rank ("0:1,1:2"); 1 = stdout, 2 = stderr,
// 3 = both, 0 = neither.
struct StreamSpec {
  int all = 0;
  std::vector<std::pair<int, int>> per_rank;  // (local rank, value); a rank not listed gets 0
  int for_rank(int local_rank) const;
  bool any() const { return all != 0 || !per_rank.empty(); }  // some stream of some rank
};

struct LaunchConfig {
  std::string nproc_per_node = "1";       // N | auto | cpu | gpu
  int nproc = 1;                          // nproc_per_node resolved
  int min_nodes = 1, max_nodes = 1;       // --nnodes N (both N) or MIN:MAX (elastic, c10d only)
  int node_rank = 0;                      // static rendezvous; c10d assigns it by arrival
  std::string rdzv_backend = "static";    // static (MASTER_ADDR:PORT) | c10d (--rdzv_endpoint)
  std::string master_addr = "127.0.0.1";  // the store: node 0's agent (static) or the endpoint
  int master_port = 29500;
  bool standalone = false;  // one node, a free port chosen by ntrun
  int max_restarts = 0;
  double monitor_interval = 0.1;  // seconds between checks of the workers
  std::string log_dir;            // <log_dir>/<run_id>/attempt_<k>/<rank>/{stdout,stderr}.log
  StreamSpec redirects;           // streams written to log files only
  StreamSpec tee;                 // streams written to log files and the console
  std::vector<int>
      local_ranks_filter;        // local ranks whose output reaches the console; all if empty
  std::string run_id = "none";   // --run_id or --rdzv_id
  std::string role = "default";  // ROLE_NAME
  std::string local_addr;        // this node's address as others reach it (static: node 0's store)
  double shutdown_timeout = 30.0;     // seconds between SIGTERM and SIGKILL
  double rendezvous_timeout = 600.0;  // join_timeout: seconds to wait for the other nodes
  double last_call_timeout = 30.0;    // elastic: seconds to wait for more nodes after MIN
  std::vector<std::string> program;   // the command each worker runs, python included
  // Not a flag: run_agent draws it (128 random bits, hex) once per launch, and every attempt's
  // workers get it as NANOTRAIN_JOB_SECRET, which marks their per-step snapshots as this job's.
  std::string job_secret;
};

// Parses argv after "ntrun" with torchrun's PET_<FLAG> variables from `environment` (name ->
// value) as the flags' defaults: PET_NPROC_PER_NODE=4 acts as a leading --nproc_per_node=4, and
// the command line wins. `--help` is handled by the caller. Throws std::invalid_argument naming
// the flag (and the variable, for a value from the environment) for an unknown flag, a bad value
// or a missing program.
LaunchConfig parse_launch_config(const std::vector<std::string>& command_line,
                                 const std::map<std::string, std::string>& environment);

// The text `ntrun --help` prints.
const char* launch_usage();

}  // namespace nt
