// torchrun's environment contract, checked before any socket is opened.
#include "runtime/dist_env.h"

#include <fmt/format.h>

#include <cstdlib>
#include <stdexcept>

namespace nt {
namespace {

// The integer value of `name`, or `fallback` when unset; throws naming it when malformed.
int env_int(const char* name, int fallback, int min_value, int max_value) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used == 0 || text[used] != '\0' || value < min_value || value > max_value)
    throw std::invalid_argument(
        fmt::format("environment variable {}: expected an integer in "
                    "[{}, {}], found '{}'",
                    name, min_value, max_value, text));
  return static_cast<int>(value);
}

}  // namespace

DistEnv read_dist_env() {
  DistEnv env;
  constexpr int kMaxRanks = 1 << 20;
  env.from_launcher = std::getenv("RANK") && std::getenv("WORLD_SIZE");
  env.world_size = env_int("WORLD_SIZE", 1, 1, kMaxRanks);
  env.rank = env_int("RANK", 0, 0, kMaxRanks);
  env.local_rank = env_int("LOCAL_RANK", env.rank, 0, kMaxRanks);
  env.local_world_size = env_int("LOCAL_WORLD_SIZE", env.world_size, 1, kMaxRanks);
  env.group_rank = env_int("GROUP_RANK", 0, 0, kMaxRanks);
  env.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) env.master_addr = addr;
  if (env.rank >= env.world_size)
    throw std::invalid_argument(
        fmt::format("RANK {} is not below WORLD_SIZE {}", env.rank, env.world_size));
  if (env.local_rank >= env.local_world_size)
    throw std::invalid_argument(fmt::format("LOCAL_RANK {} is not below LOCAL_WORLD_SIZE {}",
                                            env.local_rank, env.local_world_size));
  return env;
}

}  // namespace nt
