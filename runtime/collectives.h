// The collective operations the optimizers and checkpointing use, behind one small interface,
// so that no folder but runtime/ touches c10d's version-specific API. Every call is collective:
// all ranks make it, in the same order, with tensors of the same shape and dtype.
// A flat tensor of n elements is sharded into world_size pieces of shard_size(n) =
// ceil(n / world_size) elements; the last shards are shorter, possibly empty.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <string>

#include "runtime/dist_env.h"
#include "runtime/peer_channel.h"

namespace nt {

// A collective that was started and has not been waited for.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Blocks until the collective is done; throws as the blocking calls do.
  virtual void wait() = 0;
};

class Collectives {
 public:
  virtual ~Collectives() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // In place: every rank ends with the element-wise mean (or sum) over ranks. fp32 and bf16 (bf16
  // is summed by the backend in bf16 with LibTorch 2.x, as torch.distributed does; in fp32 with
  // 1.13, whose Gloo cannot).
  virtual void all_reduce_mean(at::Tensor& tensor) = 0;
  virtual void all_reduce_sum(at::Tensor& tensor) = 0;
  // Starts an in-place mean all_reduce of a contiguous fp32 `tensor` on the backend's device and
  // returns at once; the tensor must stay untouched until wait() returns. Collectives started
  // this way count in the order they are started, like the blocking ones.
  virtual std::unique_ptr<PendingCollective> start_all_reduce_mean(at::Tensor& tensor) = 0;
  // This rank's shard of the element-wise mean over ranks of `input` (any shape, taken flat).
  virtual at::Tensor reduce_scatter_mean(const at::Tensor& input) = 0;
  // Every rank's `shard` concatenated in rank order, cut to `numel` elements (flat). Shards must
  // have shard_size(numel) elements (the last ones zero-padded by the caller's own slicing).
  virtual at::Tensor all_gather(const at::Tensor& shard, int64_t numel) = 0;
  // In place: every rank ends with root's values.
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  virtual void barrier() = 0;
  // Every rank, like a collective: a channel for point-to-point transfers between any two ranks
  // of this group that never delays or reorders its collectives (a Gloo group of its own, over
  // the same store under `name`, on the CPU). A recv waits up to `timeout` for its sender.
  virtual std::unique_ptr<PeerChannel> open_peer_channel(const std::string& name,
                                                         std::chrono::milliseconds timeout) = 0;

  int64_t shard_size(int64_t numel) const { return (numel + world_size() - 1) / world_size(); }
  // [begin, end) of rank r's shard of a flat tensor of numel elements.
  std::pair<int64_t, int64_t> shard_range(int64_t numel, int r) const;
};

// Whether `mine` holds on any rank (`collectives` nullptr: a world of one). Every rank calls it,
// in the same place: it is a collective.
bool on_any_rank(bool mine, Collectives* collectives);

struct ProcessGroupOptions {
  // Per collective, and for the rendezvous (so ranks must start within it of each other). A
  // collective that some rank does not join fails within about this time: most of it is spent
  // waiting, the rest (a fifth, at most 5 s) finding out which ranks never arrived. Rank 0,
  // which hosts the store, fails that fifth later, keeping the store up for ranks that fail
  // after it. Work one
  // rank does alone while the others wait in a collective (rank 0's synchronous save) must fit
  // in it.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::string backend = "gloo";  // gloo | nccl
};

// Rank 0 hosts a TCPStore at MASTER_ADDR:MASTER_PORT, every rank joins, and a Gloo (or NCCL)
// process group forms over it. Returns nullptr for a world of one. Throws std::runtime_error
// "rank R: ..." when the master cannot be reached within the timeout.
// A failed collective (timeout, peer gone) throws std::runtime_error "rank R: <op> #N failed:
// ...; rank K did not reach it within the timeout (stuck, dead or busy
// elsewhere)": every rank whose collective fails marks
// itself in the store, so the ranks that never mark themselves are the stuck ones.
std::unique_ptr<Collectives> init_process_group(const DistEnv& env,
                                                const ProcessGroupOptions& options);

}  // namespace nt
