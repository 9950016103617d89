// Fuzz target: command lines. The input is split at newlines into argv words and given to ntrun's
// flag parser, to the subcommands' positional/flag splitter, and to the generic flag reader
// filling a config struct (GPTConfig) that is then validated. Errors must be exceptions.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/cli_args.h"
#include "launch/launch_config.h"
#include "model/config.h"
#include "runtime/config_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n')
      args.emplace_back();
    else
      args.back().push_back(static_cast<char>(data[i]));
  }
  try {
    nt::parse_launch_config(args, {});
  } catch (const std::exception&) {
  }
  try {
    nt::split_cli_args(args);
  } catch (const std::exception&) {
  }
  try {
    nt::GPTConfig config;
    nt::config_from_flags(config, nt::parse_flags(args));
    config.validate();
  } catch (const std::exception&) {
  }
  return 0;
}
