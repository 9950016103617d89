// The distributed environment a worker is started in, read from torchrun's variables (which
// ntrun sets too): RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR,
// MASTER_PORT. Without them the process is a world of one and needs no process group.
#pragma once

#include <string>

namespace nt {

struct DistEnv {
  int rank = 0;
  int local_rank = 0;
  int world_size = 1;
  int local_world_size = 1;
  int group_rank = 0;  // node index
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool from_launcher = false;  // RANK and WORLD_SIZE were set

  bool distributed() const { return world_size > 1; }
};

// Reads and checks the variables. Throws std::invalid_argument naming the variable for a
// malformed or inconsistent value (RANK >= WORLD_SIZE, a port outside 1..65535, ...).
DistEnv read_dist_env();

}  // namespace nt
