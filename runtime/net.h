// Small networking helpers for rendezvous: a free port, and the local address that routes to a
// given host (the interface other nodes can reach us on).
#pragma once

#include <string>

namespace nt {

// A TCP port on all interfaces that was free a moment ago.
int find_free_port();

// The local IPv4 address used to reach `host` (a UDP connect, which sends nothing). Throws
// std::runtime_error when `host` does not resolve or is unreachable.
std::string local_address_towards(const std::string& host, int port);

}  // namespace nt
