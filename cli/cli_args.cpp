// Positional words, then flags.
#include "cli/cli_args.h"

#include <stdexcept>

namespace nt {

CliArgs split_cli_args(const std::vector<std::string>& args) {
  CliArgs out;
  std::vector<std::string> flag_words;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].compare(0, 2, "--") != 0) {
      out.positional.push_back(args[i]);
      continue;
    }
    // "--key value": the value is the word after the flag, as parse_flags reads it; a word after
    // that is positional again ("ckpt import --format dcp DIR --out OUT").
    flag_words.push_back(args[i]);
    if (args[i].find('=') == std::string::npos && i + 1 < args.size() &&
        args[i + 1].compare(0, 2, "--") != 0)
      flag_words.push_back(args[++i]);
  }
  out.flags = parse_flags(flag_words);
  return out;
}

const std::string& positional_at(const CliArgs& args, size_t index, const char* what) {
  if (index >= args.positional.size()) throw std::invalid_argument(std::string("missing ") + what);
  return args.positional[index];
}

bool help_requested(const std::vector<std::string>& args) {
  for (const auto& arg : args)
    if (arg == "--help" || arg == "-h") return true;
  return false;
}

}  // namespace nt
