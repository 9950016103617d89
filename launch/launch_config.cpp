// torchrun-compatible flag parsing. Boolean flags (--standalone, --tee) take no value, so the
// program name after them is never swallowed as one.
#include "launch/launch_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <random>
#include <stdexcept>

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

int resolve_nproc(const std::string& value) {
  const int cores = allowed_cpu_count();
  if (value == "cpu") return cores;
  if (value == "gpu" || value == "auto") {
    const int gpus = visible_gpu_count();
    if (gpus > 0) return gpus;
    if (value == "gpu")
      throw std::invalid_argument(
          "--nproc_per_node=gpu: no NVIDIA GPU is usable here (none in /proc/driver/nvidia, or "
          "CUDA_VISIBLE_DEVICES / Slurm's GPU binding hides them all)");
    return cores;
  }
  return parse_int({"nproc_per_node", value}, 1, 4096);
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

// "3", or "0:1,1:2" per local rank.
StreamSpec parse_streams(const Flag& flag) {
  StreamSpec spec;
  auto malformed = [&] {
    return std::invalid_argument(fmt::format(
        "--{}: expected 0-3 (1 stdout, 2 stderr, 3 both) or LOCAL_RANK:VALUE,..., found '{}'",
        flag.name, flag.value));
  };
  auto value = [&](const std::string& text) {
    if (text.size() != 1 || text[0] < '0' || text[0] > '3') throw malformed();
    return text[0] - '0';
  };
  if (flag.value.find(':') == std::string::npos) {
    spec.all = value(flag.value);
    return spec;
  }
  for (const auto& item : split(flag.value, ',')) {
    const auto pair = split(item, ':');
    if (pair.size() != 2) throw malformed();
    spec.per_rank.emplace_back(parse_int({flag.name, pair[0]}, 0, 4095), value(pair[1]));
  }
  return spec;
}

// "MIN:MAX" or "N".
void parse_nnodes(const Flag& flag, LaunchConfig& c) {
  const auto parts = split(flag.value, ':');
  if (parts.size() > 2)
    throw std::invalid_argument(
        fmt::format("--nnodes: expected N or MIN:MAX, found '{}'", flag.value));
  c.min_nodes = parse_int({"nnodes", parts.front()}, 1, 65536);
  c.max_nodes = parse_int({"nnodes", parts.back()}, 1, 65536);
  if (c.min_nodes > c.max_nodes)
    throw std::invalid_argument(fmt::format("--nnodes {}: MIN is above MAX", flag.value));
}

// HOST[:PORT]; torchrun's default port is 29400.
void parse_endpoint(const Flag& flag, LaunchConfig& c) {
  const size_t colon = flag.value.rfind(':');
  c.master_addr = flag.value.substr(0, colon);
  c.master_port = colon == std::string::npos
                      ? 29400
                      : parse_int({flag.name, flag.value.substr(colon + 1)}, 1, 65535);
  if (c.master_addr.empty())
    throw std::invalid_argument(
        fmt::format("--{}: expected HOST[:PORT], found '{}'", flag.name, flag.value));
}

// torchrun's --rdzv_conf KEY=VALUE,...: the timeouts are used; the rest of torchrun's keys
// tune its own store and are accepted without effect.
void parse_rdzv_conf(const Flag& flag, LaunchConfig& c) {
  for (const auto& item : split(flag.value, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const Flag entry{"rdzv_conf " + key, eq == std::string::npos ? "" : item.substr(eq + 1)};
    if (key == "join_timeout" || key == "timeout")
      c.rendezvous_timeout = parse_seconds(entry);
    else if (key == "last_call_timeout")
      c.last_call_timeout = parse_seconds(entry);
    else if (key != "close_timeout" && key != "read_timeout" && key != "keep_alive_interval" &&
             key != "keep_alive_max_attempt" && key != "heartbeat" && key != "is_host" &&
             key != "use_libuv")
      throw std::invalid_argument(
          fmt::format("--rdzv_conf: unknown key '{}' (expected join_timeout, last_call_timeout, "
                      "close_timeout, read_timeout, timeout, ...)",
                      key));
  }
}

// torchrun's flags that also take their default from PET_<FLAG> (its argparse `env` and
// `check_env` actions), as Kubeflow's PyTorchJob sets them.
constexpr const char* kEnvironmentFlags[] = {
    "nproc_per_node", "nnodes",       "node_rank",     "master_addr",
    "master_port",    "rdzv_backend", "rdzv_endpoint", "rdzv_id",
    "rdzv_conf",      "standalone",   "max_restarts",  "monitor_interval",
    "log_dir",        "redirects",    "tee",           "local_ranks_filter",
    "role",           "local_addr",   "no_python",     "run_path",
    "module"};

// The flags that PET_* variables of `env` stand for; `variables` gets the variable of each.
std::vector<std::string> flags_from_environment(const std::map<std::string, std::string>& env,
                                                std::vector<std::string>* variables) {
  std::vector<std::string> flags;
  for (const char* name : kEnvironmentFlags) {
    std::string variable = std::string("PET_") + name;
    std::transform(variable.begin(), variable.end(), variable.begin(),
                   [](unsigned char ch) { return std::toupper(ch); });
    const auto it = env.find(variable);
    if (it == env.end()) continue;
    flags.push_back(fmt::format("--{}={}", name, it->second));
    variables->push_back(variable);
  }
  return flags;
}

// What a flag sets beyond LaunchConfig's fields: how the program runs, and the endpoint, which
// is applied after every flag has been read.
struct ProgramFlags {
  bool no_python = false, run_path = false;
  std::string module, rdzv_endpoint;
};

void apply_flag(const Flag& flag, LaunchConfig& c, ProgramFlags& x) {
  if (flag.name == "nproc_per_node")
    c.nproc_per_node = flag.value;
  else if (flag.name == "nnodes")
    parse_nnodes(flag, c);
  else if (flag.name == "node_rank")
    c.node_rank = parse_int(flag, 0, 65535);
  else if (flag.name == "master_addr")
    c.master_addr = flag.value;
  else if (flag.name == "master_port")
    c.master_port = parse_int(flag, 1, 65535);
  else if (flag.name == "rdzv_backend")
    c.rdzv_backend = flag.value;
  else if (flag.name == "rdzv_endpoint")
    x.rdzv_endpoint = flag.value;
  else if (flag.name == "rdzv_id" || flag.name == "run_id")
    c.run_id = flag.value;
  else if (flag.name == "rdzv_conf")
    parse_rdzv_conf(flag, c);
  else if (flag.name == "standalone")
    c.standalone = detail::parse_flag_value<bool>(flag);
  else if (flag.name == "max_restarts")
    c.max_restarts = parse_int(flag, 0, 1000000);
  else if (flag.name == "monitor_interval")
    c.monitor_interval = parse_seconds(flag);
  else if (flag.name == "log_dir")
    c.log_dir = flag.value;
  else if (flag.name == "redirects")
    c.redirects = parse_streams(flag);
  else if (flag.name == "tee")
    c.tee = parse_streams(flag);
  else if (flag.name == "local_ranks_filter")
    for (const auto& rank : split(flag.value, ','))
      c.local_ranks_filter.push_back(parse_int({flag.name, rank}, 0, 4095));
  else if (flag.name == "role")
    c.role = flag.value;
  else if (flag.name == "local_addr")
    c.local_addr = flag.value;
  else if (flag.name == "no_python")
    x.no_python = detail::parse_flag_value<bool>(flag);
  else if (flag.name == "run_path")
    x.run_path = detail::parse_flag_value<bool>(flag);
  else if (flag.name == "module")
    x.module = flag.value;
  else if (flag.name == "shutdown_timeout")
    c.shutdown_timeout = parse_seconds(flag);
  else if (flag.name == "rdzv_timeout")
    c.rendezvous_timeout = parse_seconds(flag);
  else
    throw std::invalid_argument(fmt::format("unknown flag --{} (see ntrun --help)", flag.name));
}

std::string random_run_id() {
  std::random_device device;
  return fmt::format("{:08x}{:08x}", device(), device());
}

}  // namespace

int StreamSpec::for_rank(int local_rank) const {
  if (per_rank.empty()) return all;
  for (const auto& [rank, value] : per_rank)
    if (rank == local_rank) return value;
  return 0;
}

LaunchConfig parse_launch_config(const std::vector<std::string>& command_line,
                                 const std::map<std::string, std::string>& environment) {
  // The environment's flags come first, so that the command line wins.
  std::vector<std::string> from_environment;
  std::vector<std::string> args = flags_from_environment(environment, &from_environment);
  args.insert(args.end(), command_line.begin(), command_line.end());
  LaunchConfig c;
  ProgramFlags x;
  size_t i = 0;
  for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
    Flag flag;
    std::string body = args[i].compare(0, 2, "--") == 0 ? args[i].substr(2) : args[i].substr(1);
    const size_t eq = body.find('=');
    flag.name = body.substr(0, eq);
    std::replace(flag.name.begin(), flag.name.end(), '-', '_');
    if (flag.name == "m") flag.name = "module";
    if (flag.name == "r") flag.name = "redirects";
    if (flag.name == "t") flag.name = "tee";
    const bool boolean =
        flag.name == "standalone" || flag.name == "no_python" || flag.name == "run_path";
    if (eq != std::string::npos) {
      flag.value = body.substr(eq + 1);
    } else if (boolean) {
      flag.value = "true";
    } else if (i + 1 < args.size()) {
      flag.value = args[++i];
    } else {
      throw std::invalid_argument(fmt::format("--{}: expected a value", flag.name));
    }
    try {
      apply_flag(flag, c, x);
    } catch (const std::invalid_argument& e) {
      // The environment's flags come first, one token each: token i is variable i's.
      if (i < from_environment.size())
        throw std::invalid_argument(fmt::format("{}: {}", from_environment[i], e.what()));
      throw;
    }
  }
  // -m MODULE is torchrun's `python -m MODULE`; a .py script, or any program under --run_path,
  // runs with python; anything else (and everything under --no_python) runs as it is.
  const std::vector<std::string> rest(args.begin() + static_cast<long>(i), args.end());
  if (!x.module.empty()) {
    if (x.no_python) throw std::invalid_argument("--module cannot go with --no_python");
    c.program = {"python3", "-u", "-m", x.module};
  } else if (rest.empty()) {
    throw std::invalid_argument("expected a program to launch after the flags (see ntrun --help)");
  } else if (!x.no_python && (x.run_path || (rest[0].size() > 3 &&
                                             rest[0].compare(rest[0].size() - 3, 3, ".py") == 0))) {
    c.program = {"python3", "-u"};
  }
  c.program.insert(c.program.end(), rest.begin(), rest.end());
  c.nproc = resolve_nproc(c.nproc_per_node);

  if (c.rdzv_backend != "static" && c.rdzv_backend != "c10d")
    throw std::invalid_argument(
        fmt::format("--rdzv_backend: expected static or c10d, found '{}' (etcd needs torchrun)",
                    c.rdzv_backend));
  // As with torchrun, the endpoint, when given, replaces --master_addr and --master_port.
  if (!x.rdzv_endpoint.empty()) parse_endpoint({"rdzv_endpoint", x.rdzv_endpoint}, c);
  if (c.min_nodes != c.max_nodes && c.rdzv_backend != "c10d")
    throw std::invalid_argument(
        "--nnodes MIN:MAX needs --rdzv_backend=c10d and --rdzv_endpoint, as with torchrun");
  if (c.rdzv_backend == "static" && c.node_rank >= c.max_nodes)
    throw std::invalid_argument(
        fmt::format("--node_rank {} must be below --nnodes {}", c.node_rank, c.max_nodes));
  if (c.standalone) {
    if (c.max_nodes != 1)
      throw std::invalid_argument("--standalone runs one node: it cannot go with --nnodes > 1");
    // torchrun: a c10d rendezvous on localhost, a free port, a random run id.
    c.rdzv_backend = "c10d";
    if (c.run_id == "none") c.run_id = random_run_id();
  }
  return c;
}

const char* launch_usage() {
  return R"(usage: ntrun [flags] PROGRAM [ARGS...]
       ntrun [flags] -m MODULE [ARGS...]

Starts one worker process per GPU or CPU slot, on one node or many, with torchrun's
environment (RANK, LOCAL_RANK, GROUP_RANK, ROLE_RANK, ROLE_NAME, WORLD_SIZE, LOCAL_WORLD_SIZE,
GROUP_WORLD_SIZE, ROLE_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT,
TORCHELASTIC_MAX_RESTARTS, TORCHELASTIC_RUN_ID, TORCHELASTIC_USE_AGENT_STORE,
TORCHELASTIC_ERROR_FILE, TORCHELASTIC_SIGNALS_TO_HANDLE, TORCH_NCCL_ASYNC_ERROR_HANDLING,
OMP_NUM_THREADS). Node 0's agent
hosts the store the workers join at MASTER_ADDR:MASTER_PORT. Flags may use dashes or
underscores. PROGRAM runs as it is, or with `python3 -u` when it ends in .py (or --run_path).
As with torchrun, each of torchrun's flags below takes its default from PET_<FLAG>
(PET_NPROC_PER_NODE, PET_NNODES, PET_STANDALONE=1, ...: how Kubeflow's PyTorchJob passes them);
the command line wins.

  --nproc_per_node N|auto|cpu|gpu  workers on this node (default 1; gpu: the GPUs this process
                             may use (CUDA_VISIBLE_DEVICES, Slurm's binding); auto: those,
                             else the CPUs; cpu: the CPUs it may use)
  --nnodes N|MIN:MAX         nodes in the job (default 1); MIN:MAX needs --rdzv_backend=c10d
  --node_rank R              this node's index, 0..nnodes-1 (static rendezvous; default 0)
  --master_addr ADDR         node 0's address (default 127.0.0.1)
  --master_port PORT         the store's port on node 0 (default 29500)
  --rdzv_backend static|c10d static: nodes named by --node_rank meet at the master; c10d: at
                             --rdzv_endpoint, node ranks in order of arrival (default static)
  --rdzv_endpoint HOST[:PORT]  where nodes meet (default port 29400); replaces --master_*
  --rdzv_id ID, --run_id ID  job id shared by every node (default none)
  --rdzv_conf K=V,...        join_timeout (s, default 600), last_call_timeout (s, default 30:
                             how long c10d waits for more than MIN nodes)
  --standalone               one node, on a free port chosen by ntrun
  --max_restarts N           restart all workers up to N times after a failure (default 0)
  --monitor_interval S       seconds between checks of the workers (default 0.1)
  --log_dir DIR              logs and error files in DIR/RUN_ID/attempt_K/RANK/ (default: a
                             directory under $TMPDIR)
  -r, --redirects SPEC       streams written to log files only: 0 none, 1 stdout, 2 stderr,
                             3 both, or per local rank, e.g. 0:3,1:2
  -t, --tee SPEC             streams written to log files and the console, each line prefixed
                             with its rank
  --local_ranks_filter R,... only these local ranks' output reaches the console
  --role NAME                ROLE_NAME (default "default")
  --local_addr ADDR          this node's address (c10d: it hosts the endpoint when ADDR is it)
  -m, --module MODULE        run `python3 -u -m MODULE`
  --no_python                run PROGRAM as it is, even a .py file
  --run_path                 run PROGRAM with `python3 -u`
  --shutdown_timeout S       seconds between SIGTERM and SIGKILL when stopping workers
                             (default 30)
  --rdzv_timeout S           seconds to wait for every node's agent (default 600)
  --help                     this text

Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to ntrun reach every
worker; the first four stop the job.
Exit status: 0 when every worker of the last attempt exited 0; 75 when they saved and stopped
for preemption; else 1 (a worker failed with no restarts left, or SIGINT, SIGTERM or SIGHUP
stopped the job, as with torchrun).
)";
}

}  // namespace nt
