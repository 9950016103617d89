// Where ntrun's node agents meet, and the store their workers join: one c10d TCPStore, at
// --master_addr:--master_port (static rendezvous, hosted by node 0's agent) or at the
// --rdzv_endpoint (c10d rendezvous, hosted by the first agent on the endpoint's host to bind
// it). As under torchrun, workers are told TORCHELASTIC_USE_AGENT_STORE=True and keep to keys
// under /worker/attempt_<k>/; agents keep to ntrun/<run_id>/. Agents agree on a generation
// number: any node's failure moves every node to the next generation, so a multi-node job
// restarts (or stops) everywhere and never hangs half-alive.
#pragma once

#include <memory>
#include <string>

#include "launch/launch_config.h"
#include "launch/worker_group.h"

namespace nt {

class Rendezvous {
 public:
  virtual ~Rendezvous() = default;
  // Blocks until generation `generation` has its nodes: all --nnodes (static), or from MIN to
  // MAX (c10d: MAX, or whoever is there `last_call_timeout` after MIN arrived; node ranks in
  // order of arrival). Throws std::runtime_error on the join timeout, naming the store and how
  // many nodes arrived, or when this node arrived after the generation closed.
  virtual Membership join(int generation) = 0;
  // The newest generation any node has asked for.
  virtual int current_generation() = 0;
  // The generation a starting agent joins: the current one while it still takes nodes; once it
  // has closed (the job runs without this node: it was lost and is back), the next one, which
  // it asks for, so that every node restarts its workers with this one in.
  virtual int first_generation() = 0;
  // The job's secret, the same on every node: the first agent's `proposed` one (ntrun draws it
  // at random per launch); handed to the workers as NANOTRAIN_JOB_SECRET.
  virtual std::string job_secret(const std::string& proposed) = 0;
  // Asks every node to leave `generation` (a failure here); no-op if one already did.
  virtual void fail(int generation) = 0;
  // Marks this node's workers of `generation` as all succeeded; true once every node has.
  virtual bool finish(int generation) = 0;
  // Waits (bounded) until every node has read the result of `generation`, so the host keeps the
  // store up while others still need it.
  virtual void leave(int generation) = 0;
};

// Hosts or joins the store (for one node too: its workers need it). Throws std::runtime_error
// naming the address when the store cannot be reached within the join timeout.
std::unique_ptr<Rendezvous> make_rendezvous(const LaunchConfig& config);

}  // namespace nt
