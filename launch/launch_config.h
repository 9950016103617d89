// ntrun's command line: torchrun's flags (both spellings, --nproc_per_node and
// --nproc-per-node), then the program and its arguments.
#pragma once

#include <string>
#include <vector>

namespace nt {

struct LaunchConfig {
  std::string nproc_per_node = "1";  // N | auto | cpu | gpu
  int nproc = 1;                     // nproc_per_node resolved
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool standalone = false;  // one node, a free port chosen by ntrun
  int max_restarts = 0;
  double monitor_interval = 0.1;  // seconds between checks of the workers
  std::string log_dir;            // <log_dir>/<run_id>/attempt_<k>/<rank>/{stdout,stderr}.log
  bool tee = false;               // also copy worker output to the console, prefixed "[rank N]: "
  std::string run_id = "none";
  double shutdown_timeout = 30.0;     // seconds between SIGTERM and SIGKILL
  double rendezvous_timeout = 300.0;  // seconds to wait for the other nodes' agents
  std::vector<std::string> program;   // program and its arguments
};

// Parses argv after "ntrun". `--help` is handled by the caller. Throws std::invalid_argument
// naming the flag for an unknown flag, a bad value or a missing program.
LaunchConfig parse_launch_config(const std::vector<std::string>& args);

// The text `ntrun --help` prints.
const char* launch_usage();

}  // namespace nt
