// torchrun-compatible flag parsing. Boolean flags (--standalone, --tee) take no value, so the
// program name after them is never swallowed as one.
#include "launch/launch_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "runtime/config_io.h"
#include "runtime/cpu_info.h"

namespace nt {
namespace {

int parse_int(const Flag& flag, int min_value, int max_value) {
  const int64_t v = detail::parse_flag_value<int64_t>(flag);
  if (v < min_value || v > max_value)
    throw std::invalid_argument(fmt::format("--{}: expected an integer in [{}, {}], found {}",
                                            flag.name, min_value, max_value, v));
  return static_cast<int>(v);
}

double parse_seconds(const Flag& flag) {
  const double v = detail::parse_flag_value<double>(flag);
  if (!(v > 0.0) || !std::isfinite(v))
    throw std::invalid_argument(
        fmt::format("--{}: expected a positive number of seconds, found {}", flag.name, v));
  return v;
}

int count_gpus() {
  std::error_code ec;
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    (void)entry;
    ++n;
  }
  return n;
}

int resolve_nproc(const std::string& value) {
  const int cores = allowed_cpu_count();
  if (value == "cpu") return cores;
  if (value == "gpu" || value == "auto") {
    const int gpus = count_gpus();
    if (gpus > 0) return gpus;
    if (value == "gpu")
      throw std::invalid_argument("--nproc_per_node=gpu: no NVIDIA GPU is visible on this node");
    return cores;
  }
  return parse_int({"nproc_per_node", value}, 1, 4096);
}

}  // namespace

LaunchConfig parse_launch_config(const std::vector<std::string>& args) {
  LaunchConfig c;
  size_t i = 0;
  for (; i < args.size() && args[i].compare(0, 2, "--") == 0; ++i) {
    Flag flag;
    std::string body = args[i].substr(2);
    const size_t eq = body.find('=');
    flag.name = body.substr(0, eq);
    std::replace(flag.name.begin(), flag.name.end(), '-', '_');
    const bool boolean = flag.name == "standalone" || flag.name == "tee";
    if (eq != std::string::npos) {
      flag.value = body.substr(eq + 1);
    } else if (boolean) {
      flag.value = "true";
    } else if (i + 1 < args.size()) {
      flag.value = args[++i];
    } else {
      throw std::invalid_argument(fmt::format("--{}: expected a value", flag.name));
    }
    if (flag.name == "nproc_per_node")
      c.nproc_per_node = flag.value;
    else if (flag.name == "nnodes")
      c.nnodes = parse_int(flag, 1, 65536);
    else if (flag.name == "node_rank")
      c.node_rank = parse_int(flag, 0, 65535);
    else if (flag.name == "master_addr")
      c.master_addr = flag.value;
    else if (flag.name == "master_port")
      c.master_port = parse_int(flag, 1, 65535);
    else if (flag.name == "standalone")
      c.standalone = detail::parse_flag_value<bool>(flag);
    else if (flag.name == "max_restarts")
      c.max_restarts = parse_int(flag, 0, 1000000);
    else if (flag.name == "monitor_interval")
      c.monitor_interval = parse_seconds(flag);
    else if (flag.name == "log_dir")
      c.log_dir = flag.value;
    else if (flag.name == "tee")
      c.tee = flag.value != "0" && flag.value != "false";
    else if (flag.name == "run_id")
      c.run_id = flag.value;
    else if (flag.name == "shutdown_timeout")
      c.shutdown_timeout = parse_seconds(flag);
    else if (flag.name == "rdzv_timeout")
      c.rendezvous_timeout = parse_seconds(flag);
    else
      throw std::invalid_argument(fmt::format("unknown flag --{} (see ntrun --help)", flag.name));
  }
  c.program.assign(args.begin() + static_cast<long>(i), args.end());
  if (c.program.empty())
    throw std::invalid_argument("expected a program to launch after the flags (see ntrun --help)");
  c.nproc = resolve_nproc(c.nproc_per_node);
  if (c.node_rank >= c.nnodes)
    throw std::invalid_argument(
        fmt::format("--node_rank {} must be below --nnodes {}", c.node_rank, c.nnodes));
  if (c.standalone && c.nnodes != 1)
    throw std::invalid_argument("--standalone runs one node: it cannot go with --nnodes > 1");
  return c;
}

const char* launch_usage() {
  return R"(usage: ntrun [flags] PROGRAM [ARGS...]

Starts one worker process per GPU or CPU slot, on one node or many, with torchrun's
environment (RANK, LOCAL_RANK, GROUP_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_WORLD_SIZE,
MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS,
TORCHELASTIC_RUN_ID, OMP_NUM_THREADS). Flags may use dashes or underscores.

  --nproc_per_node N|auto|cpu|gpu  workers on this node (default 1; auto: GPUs, else CPUs)
  --nnodes N                 nodes in the job (default 1)
  --node_rank R              this node's index, 0..nnodes-1 (default 0)
  --master_addr ADDR         node 0's address (default 127.0.0.1)
  --master_port PORT         workers' store port on node 0 (default 29500); the node agents
                             meet on PORT+1
  --standalone               one node, on a free port chosen by ntrun
  --max_restarts N           restart all workers up to N times after a failure (default 0)
  --monitor_interval S       seconds between checks of the workers (default 0.1)
  --log_dir DIR              write DIR/RUN_ID/attempt_K/RANK/{stdout,stderr}.log
  --tee                      also copy worker output to the console, each line prefixed
                             with its rank
  --run_id ID                job id shared by every node (default none)
  --shutdown_timeout S       seconds between SIGTERM and SIGKILL when stopping workers
                             (default 30)
  --rdzv_timeout S           seconds to wait for every node's agent (default 300)
  --help                     this text

Signals: SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 sent to ntrun reach every worker.
Exit status: 0 when every worker of the last attempt exited 0, else 1.
)";
}

}  // namespace nt
