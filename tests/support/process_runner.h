// Starting groups of worker processes for multi-process tests (Gloo on loopback) and waiting for
// them with a deadline, so that a hung collective fails a test instead of hanging ctest.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace nt::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

// fork + exec of `argv` with the current environment plus `env`. Returns the pid.
pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env);

// Waits for every pid; after `timeout_s` the rest are killed. Returns each exit status in the
// shell's convention: the exit code, 128 + signal for a signal, -1 for a timeout.
std::vector<int> wait_all(const std::vector<pid_t>& pids, double timeout_s);

// Runs `world_size` copies of `binary` as one world on a free loopback port and returns their
// exit statuses (see wait_all).
std::vector<int> run_world(const std::string& binary, int world_size, double timeout_s);

// torchrun's variables for rank `rank` of `world_size` on one node.
std::map<std::string, std::string> worker_env(int rank, int world_size, int port);

}  // namespace nt::testing
