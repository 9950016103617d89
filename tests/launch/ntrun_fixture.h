// ntrun's end-to-end test fixture: a scratch directory, bash workers written into it, and ntrun
// run with its stderr kept for the assertions.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "tests/support/process_runner.h"

namespace nt {

namespace fs = std::filesystem;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Alive and not a zombie waiting for init to reap it.
inline bool is_running(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  const size_t close_paren = stat.rfind(')');
  return close_paren != std::string::npos && stat.size() > close_paren + 2 &&
         stat[close_paren + 2] != 'Z';
}

// The CPUs this test may run on (its affinity mask).
inline std::vector<int> allowed_cpu_ids() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> ids;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set)) ids.push_back(cpu);
  return ids;
}

inline int allowed_cpus() {
  return std::max<int>(1, allowed_cpu_ids().size());
}

class NtrunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/ntrun_test_" + std::to_string(::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A bash worker with `body`; $OUT is the test directory.
  std::string script(const std::string& name, const std::string& body) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/bash\nOUT=" << dir_ << "\n" << body << "\n";
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }

  // Runs ntrun with `args`, stderr to a file, after the shell words `prefix` (e.g. a taskset);
  // returns the exit status. Runs that can share the machine pass --standalone (or a port of
  // their own): the agent hosts the store on --master_port, 29500 by default.
  int ntrun(const std::vector<std::string>& args, double timeout_s = 60,
            const std::string& prefix = "") {
    std::vector<std::string> argv = {"/bin/sh", "-c", ""};
    std::string cmd = prefix + std::string(NANOTRAIN_NTRUN);
    for (const auto& a : args) cmd += " '" + a + "'";
    argv[2] = cmd + " > " + dir_ + "/ntrun.out 2> " + dir_ + "/ntrun.err";
    return testing::wait_all({testing::spawn(argv, {})}, timeout_s)[0];
  }
  // Starts `n` ntrun agents in the background, agent k with the flags `flags(k)` followed by
  // `worker`, its stderr in agent<k>.err; returns their pids.
  std::vector<pid_t> start_agents(int n, const std::function<std::string(int)>& flags,
                                  const std::string& worker) {
    std::vector<pid_t> agents;
    for (int node = 0; node < n; ++node)
      agents.push_back(testing::spawn({"/bin/sh", "-c",
                                       fmt::format("{} {} {} 2> {}/agent{}.err", NANOTRAIN_NTRUN,
                                                   flags(node), worker, dir_, node)},
                                      {}));
    return agents;
  }
  std::string err() { return read_file(dir_ + "/ntrun.err"); }

  // Waits up to 30 s (generous for a loaded machine) for `name` to appear in the test directory.
  bool wait_for(const std::string& name) {
    for (int i = 0; i < 1200; ++i) {
      if (fs::exists(dir_ + "/" + name)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  // Waits up to 10 s for `pid` to be gone.
  static bool gone(pid_t pid) {
    for (int i = 0; i < 400 && is_running(pid); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    return !is_running(pid);
  }

  std::string dir_;
};

}  // namespace nt
