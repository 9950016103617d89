// POSIX sockets for the two helpers.
#include "runtime/net.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <stdexcept>

namespace nt {

namespace {

// Ports below this are left to services.
constexpr int kLowestPort = 10000;

// Whether `port` can be bound on all interfaces now (no SO_REUSEADDR: a port with connections
// in TIME_WAIT counts as taken). Port 0 binds any free port and returns it in *bound.
bool can_bind(int port, int* bound = nullptr) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (ok && bound) *bound = ntohs(addr.sin_port);
  return ok;
}

// The first port of the kernel's ephemeral range (Linux's default when it cannot be read).
int ephemeral_low() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  in >> low;
  return in ? low : 32768;
}

}  // namespace

int find_free_port() {
  const int high = ephemeral_low() - 1;
  if (high > kLowestPort) {
    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> draw(kLowestPort, high);
    for (int attempt = 0; attempt < 200; ++attempt) {
      const int port = draw(rng);
      if (can_bind(port)) return port;
    }
  }
  // A range configured to start near the bottom: any port the kernel gives, as a last resort.
  for (int attempt = 0; attempt < 200; ++attempt) {
    int port = 0;
    if (can_bind(0, &port)) return port;
  }
  throw std::runtime_error("cannot find a free TCP port");
}

std::string local_address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &result) != 0 || !result)
    throw std::runtime_error(fmt::format("MASTER_ADDR '{}' does not resolve", host));
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  const bool ok = fd >= 0 && connect(fd, result->ai_addr, result->ai_addrlen) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0;
  freeaddrinfo(result);
  if (fd >= 0) close(fd);
  if (!ok) throw std::runtime_error(fmt::format("no route to MASTER_ADDR '{}'", host));
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &local.sin_addr, text, sizeof(text));
  return text;
}

}  // namespace nt
