// Point-to-point transfers of raw bytes between two ranks, on a process group of their own, so
// that they run beside the training group's collectives (on other threads, at any time) without
// ever taking a place in their order. Used for the snapshots' replicas on another node.
#pragma once

#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace c10d {
class Store;
}  // namespace c10d

namespace nt {

class PeerChannel {
 public:
  virtual ~PeerChannel() = default;
  // Blocks until `bytes` bytes at `data` went to rank `to`, which receives them with the same
  // `tag`. Throws std::runtime_error naming the peer when it is gone or the channel was aborted.
  virtual void send(const void* data, size_t bytes, int to, int tag) = 0;
  // Blocks until `bytes` bytes from rank `from` (sent with `tag`) are at `data`. Throws as send.
  virtual void recv(void* data, size_t bytes, int from, int tag) = 0;
  // From any thread: every send and recv in flight, and every later one, throws at once.
  virtual void abort() = 0;
};

// Every rank of the job, like a collective: a Gloo process group over `store` (keys under
// `name`), its device on `host` (this rank's address towards the others). Throws
// std::runtime_error "rank R: ..." when it does not form within `timeout`, which also bounds
// every recv's wait. Collectives::open_peer_channel calls it.
std::unique_ptr<PeerChannel> open_gloo_peer_channel(const c10::intrusive_ptr<c10d::Store>& store,
                                                    const std::string& name,
                                                    const std::string& host, int rank,
                                                    int world_size,
                                                    std::chrono::milliseconds timeout);

}  // namespace nt
