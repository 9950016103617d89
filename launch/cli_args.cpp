// Positional words, then flags.
#include "launch/cli_args.h"

#include <stdexcept>

namespace nt {

CliArgs split_cli_args(const std::vector<std::string>& args) {
  CliArgs out;
  size_t i = 0;
  while (i < args.size() && args[i].compare(0, 2, "--") != 0) out.positional.push_back(args[i++]);
  out.flags =
      parse_flags(std::vector<std::string>(args.begin() + static_cast<long>(i), args.end()));
  return out;
}

const std::string& positional_at(const CliArgs& args, size_t index, const char* what) {
  if (index >= args.positional.size()) throw std::invalid_argument(std::string("missing ") + what);
  return args.positional[index];
}

}  // namespace nt
