// Replicas of the per-step snapshots on another node, so that losing a whole node (its workers
// and its tmpfs) loses no state. Each rank sends every buffer its SnapshotStore completes to
// its target, the same local rank on the next node, which keeps it beside its own buffers as
// "replica{R}.{0,1}", with the same header rules (written last; this job's key, rank and world
// size). The transfers run on two threads of their own over a PeerChannel, never through the
// training group's collectives. On a restart, a rank whose node lost its buffers gets them back
// from the rank that keeps its replica.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/snapshot.h"
#include "runtime/peer_channel.h"

namespace nt {

// Where rank `rank`'s replica goes with `local_world_size` ranks on each node: the same local
// rank on the next node. (Its source, the rank whose replica it keeps, is target(rank - lws).)
int replica_target(int rank, int local_world_size, int world_size);
int replica_source(int rank, int local_world_size, int world_size);

class SnapshotReplicas {
 public:
  // `store` is this rank's and outlives this object; `channel` is the job's (every rank opened
  // it). Nothing is sent or kept before start().
  SnapshotReplicas(SnapshotStore& store, std::unique_ptr<PeerChannel> channel, int rank,
                   int local_world_size, int world_size);
  // Without finish(): aborts the transfers in flight (the job is failing) and joins the threads.
  ~SnapshotReplicas();
  SnapshotReplicas(const SnapshotReplicas&) = delete;
  SnapshotReplicas& operator=(const SnapshotReplicas&) = delete;

  int target() const { return target_; }
  int source() const { return source_; }
  // The steps of the complete replicas of source() this node keeps, newest first (at most two).
  std::vector<int64_t> steps() const;

  // A restart, before start(): every rank makes the same calls in the same order. The rank that
  // keeps rank `to`'s replica of `step` sends it; rank `to` receives it into its own buffer, as if
  // it had never been lost. Both throw std::runtime_error naming the file, step or peer.
  void restore_to(int to, int64_t step);
  void restore_from(int from, int64_t step);

  // Once the resume point is known (`resumed_step` -1: none from memory): the replicas of other
  // steps are removed, and from now on this rank keeps source()'s and sends its own.
  void start(int64_t resumed_step);
  // After the store finished a copy (SnapshotStore::wait): sends its newest buffer, in the
  // background.
  void send_newest();
  // Before the store writes buffer `index` again: waits until no send reads it.
  void release(int index);
  // The job's end: tells the target that nothing more comes, waits for the source to say the
  // same, and removes the replicas this node kept.
  void finish();

 private:
  struct Pending {
    int index;  // -1: the end
  };
  void send_loop();
  void receive_loop();

  SnapshotStore& store_;
  std::unique_ptr<PeerChannel> channel_;
  int rank_, target_, source_;
  std::thread sender_, receiver_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Pending> queue_;  // buffers to send, in order
  int sending_ = -1;           // the buffer the sender reads now
  bool refused_ = false;       // the target cannot keep replicas: no more are sent
  bool finished_ = false;
  std::atomic<bool> closing_{false};  // the destructor aborted the channel
  int next_replica_ = 0;              // the replica buffer the next receive writes
};

}  // namespace nt
