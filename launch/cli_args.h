// Splitting a subcommand's arguments into leading positional words (an action, a directory)
// and the flags that follow, which config_from_flags then reads into a plain struct.
#pragma once

#include <string>
#include <vector>

#include "runtime/config_io.h"

namespace nt {

struct CliArgs {
  std::vector<std::string> positional;  // words before the first --flag
  std::vector<Flag> flags;
};

CliArgs split_cli_args(const std::vector<std::string>& args);

// The positional word at `index`; throws std::invalid_argument naming `what` when absent.
const std::string& positional_at(const CliArgs& args, size_t index, const char* what);

}  // namespace nt
