// Small networking helpers for rendezvous: a free port, and the local address that routes to a
// given host (the interface other nodes can reach us on).
#pragma once

#include <string>

namespace nt {

// A TCP port that was free on all interfaces a moment ago. Drawn at random below the kernel's
// ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), so that no socket the kernel
// numbers itself (an outgoing connection, a bind to port 0) can take it before the caller binds
// it. Throws std::runtime_error when no port is free.
int find_free_port();

// The local IPv4 address used to reach `host` (a UDP connect, which sends nothing). Throws
// std::runtime_error when `host` does not resolve or is unreachable.
std::string local_address_towards(const std::string& host, int port);

}  // namespace nt
