// `ntrun`: torchrun's interface for nanotrain. Parses flags, runs the node agent, and turns
// errors into one line and a non-zero exit.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "launch/agent.h"
#include "launch/launch_config.h"
#include "runtime/environment.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << nt::launch_usage();
    return args.empty() ? 2 : 0;
  }
  try {
    return nt::run_agent(nt::parse_launch_config(args, nt::environment_variables()));
  } catch (const std::exception& e) {
    std::cerr << "ntrun: " << e.what() << "\n";
    return 1;
  }
}
