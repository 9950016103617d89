// find_free_port: below the kernel's ephemeral range and really free (binds), never a port in
// use; local_address_towards for loopback and names that do not resolve.
#include "runtime/net.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <stdexcept>

namespace nt {
namespace {

// Binds and listens on `port`; returns the socket (or -1).
int listen_on(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 1) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(FindFreePort, BelowTheEphemeralRangeAndFree) {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  range >> low;
  ASSERT_GT(low, 10001) << "this machine's ephemeral range starts too low for the test";
  std::set<int> seen;
  for (int i = 0; i < 20; ++i) {
    const int port = find_free_port();
    EXPECT_GE(port, 10000);
    EXPECT_LT(port, low) << "port " << port << " is in the ephemeral range from " << low;
    const int fd = listen_on(port);
    EXPECT_GE(fd, 0) << "port " << port << " was not free";
    // A port in use is never returned while it stays in use.
    for (int j = 0; j < 20; ++j) EXPECT_NE(find_free_port(), port);
    if (fd >= 0) close(fd);
    seen.insert(port);
  }
  EXPECT_GT(seen.size(), 10u) << "the ports are drawn at random";
}

TEST(LocalAddress, LoopbackAndUnresolvableHosts) {
  EXPECT_EQ(local_address_towards("127.0.0.1", 29500), "127.0.0.1");
  try {
    local_address_towards("no-such-host.invalid", 29500);
    ADD_FAILURE() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_ADDR 'no-such-host.invalid' does not resolve"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace nt
