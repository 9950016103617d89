// Where ntrun's node agents meet: a TCPStore hosted by node 0's agent on MASTER_PORT + 1 (the
// workers' own store is on MASTER_PORT). Agents agree on a generation number: any node's
// failure moves every node to the next generation, so a multi-node job restarts (or stops)
// everywhere and never hangs half-alive. A world of one node needs no store.
#pragma once

#include <memory>
#include <string>

#include "launch/launch_config.h"

namespace nt {

class Rendezvous {
 public:
  virtual ~Rendezvous() = default;
  // Blocks until every node has joined generation `generation`. Throws std::runtime_error on
  // the rendezvous timeout, naming the master and how many nodes arrived.
  virtual void join(int generation) = 0;
  // The newest generation any node has asked for.
  virtual int current_generation() = 0;
  // Asks every node to leave `generation` (a failure here); no-op if one already did.
  virtual void fail(int generation) = 0;
  // Marks this node's workers of `generation` as all succeeded; true once every node has.
  virtual bool finish(int generation) = 0;
  // Waits (bounded) until every node has read the result of `generation`, so node 0 keeps the
  // store up while others still need it.
  virtual void leave(int generation) = 0;
};

// A store-backed rendezvous for nnodes > 1, or a local one for a single node.
std::unique_ptr<Rendezvous> make_rendezvous(const LaunchConfig& config);

}  // namespace nt
