// Fuzz target: Slurm host lists ("node[01-04,07]") and tasks-per-node specs ("2(x3),1"). Any
// input must either expand or throw std::invalid_argument / std::runtime_error; the expansion
// of a list that parses must round-trip through a second parse of its own hosts.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "runtime/hostlist.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto hosts = nt::expand_hostlist(text);
    // Expanded names contain no brackets or commas, so each is a list of itself (checked on the
    // first hosts: lists may expand to a million).
    for (size_t i = 0; i < hosts.size() && i < 64; ++i)
      if (nt::expand_hostlist(hosts[i]) != std::vector<std::string>{hosts[i]}) __builtin_trap();
  } catch (const std::exception&) {
  }
  try {
    for (int tasks : nt::expand_tasks_per_node(text))
      if (tasks < 0) __builtin_trap();
  } catch (const std::exception&) {
  }
  return 0;
}
