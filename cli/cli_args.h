// Splitting a subcommand's arguments into positional words (an action, a directory) and flags,
// which config_from_flags then reads into a plain struct. A flag written "--key value" takes
// the word after it; every other word that does not start with "--" is positional, wherever it
// stands. `--help` prints a command's flags from the same field list.
#pragma once

#include <iostream>
#include <string>
#include <vector>

#include "runtime/config_io.h"

namespace nt {

struct CliArgs {
  std::vector<std::string> positional;  // in their order
  std::vector<Flag> flags;
};

CliArgs split_cli_args(const std::vector<std::string>& args);

// The positional word at `index`; throws std::invalid_argument naming `what` when absent.
const std::string& positional_at(const CliArgs& args, size_t index, const char* what);

// True when `args` ask for help: a word "--help" or "-h" anywhere.
bool help_requested(const std::vector<std::string>& args);

// Prints `usage` (the synopsis and what the command does) and then the flags of `Config`'s
// field list with their types, meanings and defaults; returns exit code 0.
template <class Config>
int print_help(const char* usage) {
  Config defaults;
  std::cout << usage << "\nflags:\n" << config_help(defaults);
  return 0;
}

}  // namespace nt
