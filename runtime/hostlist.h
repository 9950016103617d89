// Slurm's compact host and task lists, as SLURM_JOB_NODELIST and SLURM_TASKS_PER_NODE give them:
// "node[01-04,07]", "gpu-a[1-2],cpu1", "rack[1-2]-n[1-2]" (zero padding kept), and "2(x3),1".
#pragma once

#include <string>
#include <vector>

namespace nt {

// Every host of a Slurm hostlist, in order. Throws std::invalid_argument quoting the list and
// saying what is wrong for unbalanced brackets, empty names, reversed or malformed ranges, and
// lists that expand to more than a million hosts.
std::vector<std::string> expand_hostlist(const std::string& list);

// The task count of each node from Slurm's "2(x3),1" form (here: 2, 2, 2, 1). Throws
// std::invalid_argument quoting the text when it is malformed.
std::vector<int> expand_tasks_per_node(const std::string& spec);

}  // namespace nt
