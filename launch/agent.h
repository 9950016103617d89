// ntrun's node agent: runs attempts of the worker group, restarts them after a failure while
// restarts are left (on every node at once), forwards signals, and reports the root cause.
#pragma once

#include "launch/launch_config.h"

namespace nt {

// Runs the job on this node. Returns the process exit code: 0 when every worker of the last
// attempt exited 0; 1 after a failure with no restarts left, or when stopped by SIGINT, SIGTERM
// or SIGHUP (as torchrun); kExitPreempted when the workers saved and stopped for preemption.
int run_agent(LaunchConfig config);

}  // namespace nt
