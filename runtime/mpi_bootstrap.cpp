// Rank 0 reports the address its host name resolves to (not loopback, so that other nodes can
// reach it; loopback when that is all there is) and a port the kernel just gave out.
#include "runtime/mpi_bootstrap.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "runtime/net.h"

#ifdef NANOTRAIN_WITH_MPI
#include <mpi.h>
#endif

namespace nt {

#ifdef NANOTRAIN_WITH_MPI
namespace {

std::string host_address() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "127.0.0.1";
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (getaddrinfo(name, nullptr, &hints, &list) != 0) return "127.0.0.1";
  std::string best = "127.0.0.1";
  for (addrinfo* a = list; a; a = a->ai_next) {
    char text[INET_ADDRSTRLEN] = {};
    const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    if (std::strncmp(text, "127.", 4) != 0) {
      best = text;
      break;
    }
  }
  freeaddrinfo(list);
  return best;
}

}  // namespace

bool mpi_bootstrap_available() {
  return true;
}

void mpi_bootstrap_master(std::string& addr, int& port) {
  static std::string cached_addr;
  static int cached_port = 0;
  if (cached_port == 0) {
    if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS)
      throw std::runtime_error("MPI bootstrap: MPI_Init failed");
    std::atexit([] { MPI_Finalize(); });
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char message[128] = {};  // "address port", NUL-terminated
    if (rank == 0)
      std::snprintf(message, sizeof(message), "%s %d", host_address().c_str(), find_free_port());
    if (MPI_Bcast(message, sizeof(message), MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
      throw std::runtime_error("MPI bootstrap: MPI_Bcast of the master address failed");
    char host[128] = {};
    if (std::sscanf(message, "%127s %d", host, &cached_port) != 2)
      throw std::runtime_error(fmt::format("MPI bootstrap: malformed message '{}'", message));
    cached_addr = host;
  }
  addr = cached_addr;
  port = cached_port;
}

#else

bool mpi_bootstrap_available() {
  return false;
}

void mpi_bootstrap_master(std::string&, int&) {
  throw std::runtime_error("this nanotrain was built without MPI (NANOTRAIN_WITH_MPI=OFF)");
}

#endif

}  // namespace nt
