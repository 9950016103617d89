// Command-line splitting for config_from_flags (torchrun's and nanochat's flag spellings), and
// JSON values shortened for error messages.
#include "runtime/config_io.h"

#include <algorithm>

namespace nt {

std::string json_brief(const nlohmann::json& j) {
  if (j.is_structured())
    for (const auto& item : j)
      if (item.is_structured()) return std::string("a nested ") + j.type_name();
  return j.dump();
}

std::vector<Flag> parse_flags(const std::vector<std::string>& args) {
  std::vector<Flag> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0)
      throw std::invalid_argument("expected a flag such as --depth=4, found '" + arg + "'");
    std::string body = arg.substr(2);
    Flag flag;
    const size_t eq = body.find('=');
    if (eq != std::string::npos) {
      flag.name = body.substr(0, eq);
      flag.value = body.substr(eq + 1);
    } else if (i + 1 < args.size() && args[i + 1].compare(0, 2, "--") != 0) {
      flag.name = body;
      flag.value = args[++i];
    } else {
      flag.name = body;
      flag.value = "true";
    }
    std::replace(flag.name.begin(), flag.name.end(), '-', '_');
    flags.push_back(std::move(flag));
  }
  return flags;
}

}  // namespace nt
