// Process management for ntrun's workers: fork/exec with a death signal tied to the agent, pipes
// read with poll(), and exits reaped with waitpid. The first failure is kept as the root cause.
#include "launch/worker_group.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

#include "runtime/cpu_info.h"
#include "runtime/environment.h"
#include "runtime/log.h"
#include "runtime/new_file.h"

namespace nt {
namespace {

constexpr size_t kTailLines = 20;
// The signals on which the agent stops the workers, named as torchrun names them to its workers.
constexpr const char* kStopSignals = "SIGTERM,SIGINT,SIGHUP,SIGQUIT";

void write_all(int fd, const std::string& text) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed console must not stop the agent
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// --log_dir may be shared: a symlink planted under a log's name is replaced, not written through.
int open_log(const std::string& path) {
  return create_new_file(path);
}

// The worker's whole environment, built before fork: the agent runs a store server's threads,
// so the child may only exec (no allocation between fork and exec).
std::vector<std::string> worker_environment(
    const std::vector<std::pair<std::string, std::string>>& overrides,
    const std::vector<std::pair<std::string, std::string>>& defaults) {
  std::map<std::string, std::string> env = environment_variables();
  for (const auto& [key, value] : defaults) env.emplace(key, value);  // keeps the user's
  for (const auto& [key, value] : overrides) env[key] = value;
  std::vector<std::string> entries;
  for (const auto& [key, value] : env) entries.push_back(key + "=" + value);
  return entries;
}

// The message a worker left in its TORCHELASTIC_ERROR_FILE (torchrun's record format), or "".
std::string read_error_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  try {
    const auto j = nlohmann::json::parse(in);
    const auto& message = j.at("message");
    return message.is_string() ? message.get<std::string>()
                               : message.at("message").get<std::string>();
  } catch (const std::exception& e) {
    return fmt::format("(unreadable error file: {})", e.what());
  }
}

}  // namespace

WorkerGroup::WorkerGroup(const LaunchConfig& config, int restart_count,
                         const Membership& membership, std::string run_dir)
    : config_(config),
      restart_count_(restart_count),
      membership_(membership),
      run_dir_(std::move(run_dir)) {}

int threads_per_worker(int nproc) {
  return std::max(1, allowed_cpu_count() / std::max(1, nproc));
}

WorkerGroup::~WorkerGroup() {
  signal_all(SIGKILL);
  for (auto& w : workers_) {
    if (w.alive) waitpid(w.pid, nullptr, 0);
    for (int fd : {w.out_fd, w.err_fd, w.out_log, w.err_log})
      if (fd >= 0) ::close(fd);
  }
}

void WorkerGroup::start() {
  const int world_size = config_.nproc * membership_.nnodes;
  const std::string omp_threads = std::to_string(threads_per_worker(config_.nproc));
  const pid_t agent = getpid();
  // An attempt directory reused under --log_dir may hold an earlier run's marker.
  group_failed_file_ = fmt::format("{}/attempt_{}/group_failed", run_dir_, restart_count_);
  std::error_code removed;
  std::filesystem::remove(group_failed_file_, removed);
  for (int local_rank = 0; local_rank < config_.nproc; ++local_rank) {
    Worker w;
    w.local_rank = local_rank;
    w.rank = membership_.node_rank * config_.nproc + local_rank;
    const std::string dir = fmt::format("{}/attempt_{}/{}", run_dir_, restart_count_, w.rank);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      throw std::runtime_error(
          fmt::format("cannot create log directory '{}': {}", dir, ec.message()));
    w.error_file = dir + "/error.json";
    std::filesystem::remove(w.error_file, ec);
    // torchrun: a redirected stream goes to its file only, a tee'd one to the file and the
    // console, any other to the console; --local_ranks_filter keeps the rest off the console.
    const int redirect = config_.redirects.for_rank(local_rank);
    const int tee = config_.tee.for_rank(local_rank);
    const bool shown = config_.local_ranks_filter.empty() ||
                       std::count(config_.local_ranks_filter.begin(),
                                  config_.local_ranks_filter.end(), local_rank) > 0;
    w.out_console = shown && !(redirect & 1);
    w.err_console = shown && !(redirect & 2);
    if ((redirect | tee) & 1) w.out_log = open_log(dir + "/stdout.log");
    if ((redirect | tee) & 2) w.err_log = open_log(dir + "/stderr.log");
    w.tee_prefix = tee != 0;
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("cannot create pipes: ") + std::strerror(errno));
    const std::vector<std::string> env = worker_environment(
        {{"RANK", std::to_string(w.rank)},
         {"LOCAL_RANK", std::to_string(local_rank)},
         {"GROUP_RANK", std::to_string(membership_.node_rank)},
         {"WORLD_SIZE", std::to_string(world_size)},
         {"LOCAL_WORLD_SIZE", std::to_string(config_.nproc)},
         {"GROUP_WORLD_SIZE", std::to_string(membership_.nnodes)},
         {"ROLE_RANK", std::to_string(w.rank)},
         {"ROLE_WORLD_SIZE", std::to_string(world_size)},
         {"ROLE_NAME", config_.role},
         {"MASTER_ADDR", membership_.master_addr},
         {"MASTER_PORT", std::to_string(membership_.master_port)},
         {"TORCHELASTIC_RESTART_COUNT", std::to_string(restart_count_)},
         {"TORCHELASTIC_MAX_RESTARTS", std::to_string(config_.max_restarts)},
         {"TORCHELASTIC_RUN_ID", config_.run_id},
         {"TORCHELASTIC_USE_AGENT_STORE", "True"},
         {"TORCHELASTIC_SIGNALS_TO_HANDLE", kStopSignals},
         {"TORCHELASTIC_ERROR_FILE", w.error_file},
         {"NANOTRAIN_JOB_SECRET", config_.job_secret},
         {"NANOTRAIN_GROUP_FAILED_FILE", group_failed_file_}},
        {{"OMP_NUM_THREADS", omp_threads}, {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"}});
    std::vector<char*> envp, argv;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    for (const auto& a : config_.program) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      // Child: own process group, killed if the agent dies, output into the pipes.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != agent) _exit(1);  // the agent died before prctl took effect
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE})
        signal(sig, SIG_DFL);
      dup2(out_pipe[1], STDOUT_FILENO);
      dup2(err_pipe[1], STDERR_FILENO);
      execvpe(argv[0], argv.data(), envp.data());
      const char* reason = std::strerror(errno);
      for (const char* part :
           {"ntrun: cannot execute '", static_cast<const char*>(argv[0]), "': ", reason, "\n"})
        if (::write(STDERR_FILENO, part, std::strlen(part)) < 0) break;
      _exit(127);
    }
    setpgid(pid, pid);  // also from the parent, so signal_all never races the child's setpgid
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    w.pid = pid;
    w.alive = true;
    w.out_fd = out_pipe[0];
    w.err_fd = err_pipe[0];
    workers_.push_back(std::move(w));
  }
}

void WorkerGroup::emit_line(Worker& w, bool is_err, const std::string& line) {
  const int log = is_err ? w.err_log : w.out_log;
  if (log >= 0) write_all(log, line + "\n");
  if (is_err ? w.err_console : w.out_console)
    write_all(is_err ? STDERR_FILENO : STDOUT_FILENO,
              w.tee_prefix ? fmt::format("[rank {}]: {}\n", w.rank, line) : line + "\n");
  if (is_err) {
    w.err_tail.push_back(line);
    if (w.err_tail.size() > kTailLines) w.err_tail.pop_front();
  }
}

void WorkerGroup::drain(Worker& w, bool is_err, bool flush_partial) {
  int& fd = is_err ? w.err_fd : w.out_fd;
  std::string& partial = is_err ? w.err_partial : w.out_partial;
  char buf[65536];
  while (fd >= 0) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0 || errno != EAGAIN) {
        ::close(fd);
        fd = -1;
        flush_partial = true;
      }
      break;
    }
    partial.append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = partial.find('\n', start)) != std::string::npos) {
      emit_line(w, is_err, partial.substr(start, nl - start));
      start = nl + 1;
    }
    partial.erase(0, start);
    if (n < static_cast<ssize_t>(sizeof(buf))) break;
  }
  if (flush_partial && !partial.empty()) {
    emit_line(w, is_err, partial);
    partial.clear();
  }
}

void WorkerGroup::reap(bool* any_failed) {
  for (auto& w : workers_) {
    if (!w.alive) continue;
    int status = 0;
    if (waitpid(w.pid, &status, WNOHANG) != w.pid) continue;
    w.alive = false;
    // Collect what it wrote last: the failure summary quotes it.
    for (bool is_err : {false, true}) {
      int& fd = is_err ? w.err_fd : w.out_fd;
      if (fd >= 0) fcntl(fd, F_SETFL, O_NONBLOCK);
      drain(w, is_err, /*flush_partial=*/true);
    }
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok) continue;
    *any_failed = true;
    if (failure_) continue;
    WorkerFailure f;
    f.time = utc_timestamp();
    f.rank = w.rank;
    f.local_rank = w.local_rank;
    f.pid = w.pid;
    f.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    f.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    f.stderr_tail.assign(w.err_tail.begin(), w.err_tail.end());
    f.error_file = w.error_file;
    f.error_message = read_error_file(w.error_file);
    failure_ = f;
  }
}

WorkerGroup::State WorkerGroup::poll(double wait_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  bool any_failed = false;
  while (true) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Worker*, bool>> owners;
    for (auto& w : workers_)
      for (bool is_err : {false, true}) {
        const int fd = is_err ? w.err_fd : w.out_fd;
        if (fd < 0) continue;
        fds.push_back({fd, POLLIN, 0});
        owners.push_back({&w, is_err});
      }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int timeout_ms =
        static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left.count(), 20)));
    if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    } else if (::poll(fds.data(), fds.size(), timeout_ms) > 0) {
      for (size_t i = 0; i < fds.size(); ++i)
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
          drain(*owners[i].first, owners[i].second, /*flush_partial=*/false);
    }
    reap(&any_failed);
    if (any_failed) return State::kFailed;
    bool all_done = true;
    for (const auto& w : workers_) all_done = all_done && !w.alive;
    if (all_done) return State::kSucceeded;
    if (std::chrono::steady_clock::now() >= deadline) return State::kRunning;
  }
}

void WorkerGroup::signal_all(int sig) {
  for (const auto& w : workers_)
    if (w.alive) kill(-w.pid, sig);
}

void WorkerGroup::stop_failed(double timeout_s) {
  try {
    ::close(create_new_file(group_failed_file_));
  } catch (const std::exception&) {
    // Without the marker the workers stop the slow way: at their next collective.
  }
  stop(timeout_s);
}

void WorkerGroup::stop(double timeout_s, int sig) {
  signal_all(sig);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  bool ignored = false;
  while (std::chrono::steady_clock::now() < deadline) {
    poll(0.05);
    reap(&ignored);
    bool any_alive = false;
    for (const auto& w : workers_) any_alive = any_alive || w.alive;
    if (!any_alive) return;
  }
  signal_all(SIGKILL);
  for (auto& w : workers_) {
    if (!w.alive) continue;
    waitpid(w.pid, nullptr, 0);
    w.alive = false;
  }
}

}  // namespace nt
