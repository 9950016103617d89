// The agent's loop. Signals only set flags here; the loop forwards them, so no work happens in
// a signal handler.
#include "launch/agent.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#include "launch/rendezvous.h"
#include "launch/worker_group.h"
#include "runtime/environment.h"
#include "runtime/net.h"
#include "runtime/preemption.h"

namespace nt {
namespace {

std::atomic<int> g_pending_signal{0};

void on_signal(int sig) {
  g_pending_signal = sig;
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2})
    sigaction(sig, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::string hostname() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

void print_failure(int node_rank, const WorkerFailure& f) {
  const char* abbrev = f.signal ? sigabbrev_np(f.signal) : nullptr;
  const std::string cause = f.signal
                                ? fmt::format("signal {} (SIG{})", f.signal, abbrev ? abbrev : "?")
                                : fmt::format("exit code {}", f.exit_code);
  std::string text = fmt::format(
      "ntrun: worker failed\n"
      "root cause (first failure):\n"
      "  time      : {}\n"
      "  node      : {} (node_rank {})\n"
      "  rank      : {} (local_rank {})\n"
      "  error     : {}\n"
      "  pid       : {}\n"
      "  error_file: {}\n"
      "  message   : {}\n"
      "  stderr (last {} lines):\n",
      f.time, hostname(), node_rank, f.rank, f.local_rank, cause, f.pid,
      f.error_message.empty() ? "<N/A>" : f.error_file,
      f.error_message.empty() ? "<N/A> (the worker wrote no TORCHELASTIC_ERROR_FILE)"
                              : f.error_message,
      f.stderr_tail.size());
  for (const auto& line : f.stderr_tail) text += "    " + line + "\n";
  std::cerr << text << std::flush;
}

// Where attempts keep their logs and error files: <log_dir>/<run_id>, or a directory of this
// agent's own under $TMPDIR, removed at exit when no stream was written to a file.
class RunDir {
 public:
  explicit RunDir(const LaunchConfig& config) {
    if (!config.log_dir.empty()) {
      path_ = config.log_dir + "/" + config.run_id;
      return;
    }
    std::string pattern = temp_directory() + "/ntrun_XXXXXX";
    if (!mkdtemp(pattern.data()))
      throw std::runtime_error(
          fmt::format("cannot create a directory like '{}': {}", pattern, strerror(errno)));
    path_ = pattern;
    if (config.redirects.any() || config.tee.any())
      std::cerr << fmt::format("ntrun: worker logs in {}\n", path_);
    else
      remove_at_exit_ = true;
  }
  ~RunDir() {
    std::error_code ec;
    if (remove_at_exit_) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool remove_at_exit_ = false;
};

}  // namespace

int run_agent(LaunchConfig config) {
  install_signal_handlers();
  if (config.standalone) {
    config.master_addr = "127.0.0.1";
    config.master_port = find_free_port();
  }
  std::random_device random;
  const std::string proposed_secret =
      fmt::format("{:08x}{:08x}{:08x}{:08x}", random(), random(), random(), random());
  if (!environment_has("OMP_NUM_THREADS") && config.nproc > 1)
    std::cerr << fmt::format(
        "ntrun: setting OMP_NUM_THREADS={} for each worker (allowed CPUs / nproc_per_node); set "
        "it to tune\n",
        threads_per_worker(config.nproc));
  const RunDir run_dir(config);
  auto rendezvous = make_rendezvous(config);
  config.job_secret = rendezvous->job_secret(proposed_secret);
  int generation = rendezvous->first_generation();
  if (generation > 0)
    std::cerr << fmt::format("ntrun: joining a running job at generation {}\n", generation);
  while (true) {
    const Membership membership = rendezvous->join(generation);
    WorkerGroup group(config, generation, membership, run_dir.path());
    group.start();
    WorkerGroup::State state = WorkerGroup::State::kRunning;
    bool other_node_failed = false;
    while (state == WorkerGroup::State::kRunning) {
      state = group.poll(config.monitor_interval);
      if (const int sig = g_pending_signal.exchange(0)) {
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT) {
          // Forwarded once, by stop(): a second copy would re-enter the workers' handlers.
          std::cerr << fmt::format("ntrun: received {}, stopping workers\n", strsignal(sig));
          rendezvous->fail(generation);
          group.stop(config.shutdown_timeout, sig);
          return 1;  // as torchrun, whose agent raises SignalException
        }
        group.signal_all(sig);
      }
      if (state == WorkerGroup::State::kSucceeded && !rendezvous->finish(generation))
        state = WorkerGroup::State::kRunning;  // wait for the other nodes
      if (state == WorkerGroup::State::kRunning && rendezvous->current_generation() > generation) {
        other_node_failed = true;
        break;
      }
    }
    if (state == WorkerGroup::State::kSucceeded) {
      rendezvous->leave(generation);
      return 0;
    }
    rendezvous->fail(generation);
    // Workers that saved and stopped because they were asked to are not a failure to restart
    // (nor told that their group failed); one may also exit so while the others are stopped.
    const auto preempted = [&] {
      return group.first_failure() && group.first_failure()->exit_code == kExitPreempted;
    };
    if (preempted())
      group.stop(config.shutdown_timeout);
    else
      group.stop_failed(config.shutdown_timeout);
    if (preempted()) {
      std::cerr << fmt::format("ntrun: workers stopped for preemption (exit {})\n", kExitPreempted);
      rendezvous->leave(generation);
      return kExitPreempted;
    }
    if (group.first_failure()) print_failure(membership.node_rank, *group.first_failure());
    if (other_node_failed)
      std::cerr << fmt::format("ntrun: node {}: another node's workers failed in generation {}\n",
                               membership.node_rank, generation);
    if (generation >= config.max_restarts) {
      rendezvous->leave(generation);
      std::cerr << fmt::format("ntrun: no restarts left ({} of {} used)\n", generation,
                               config.max_restarts);
      return 1;
    }
    ++generation;
    std::cerr << fmt::format("ntrun: restarting workers (restart {} of {})\n", generation,
                             config.max_restarts);
  }
}

}  // namespace nt
