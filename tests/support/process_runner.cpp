// POSIX process helpers for the multi-process tests.
#include "tests/support/process_runner.h"

#include "runtime/net.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace nt::testing {

int free_port() {
  return find_free_port();
}

pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  for (const auto& [key, value] : env) setenv(key.c_str(), value.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

std::vector<int> wait_all(const std::vector<pid_t>& pids, double timeout_s) {
  std::vector<int> status(pids.size(), -2);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  size_t left = pids.size();
  while (left > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (status[i] != -2) continue;
      int s = 0;
      if (waitpid(pids[i], &s, WNOHANG) == pids[i]) {
        status[i] = WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
        --left;
      }
    }
    if (left == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (status[i] != -2) continue;
        kill(pids[i], SIGKILL);
        waitpid(pids[i], nullptr, 0);
        status[i] = -1;
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status;
}

std::vector<int> run_world(const std::string& binary, int world_size, double timeout_s) {
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int rank = 0; rank < world_size; ++rank)
    pids.push_back(spawn({binary}, worker_env(rank, world_size, port)));
  return wait_all(pids, timeout_s);
}

std::map<std::string, std::string> worker_env(int rank, int world_size, int port) {
  return {{"RANK", std::to_string(rank)},
          {"LOCAL_RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world_size)},
          {"LOCAL_WORLD_SIZE", std::to_string(world_size)},
          {"GROUP_RANK", "0"},
          {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)},
          {"OMP_NUM_THREADS", "1"}};
}

}  // namespace nt::testing
