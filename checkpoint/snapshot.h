// Per-step snapshots of one rank's training state in memory that outlives the worker: files in
// a node-local tmpfs (/dev/shm), two per rank, written alternately, so that a worker killed
// while writing one leaves the other whole. Each file is a 4 KiB header (written last, and
// cleared before the payload is rewritten) followed by the payload: a JSON description
// (checkpoint/flat_ivalue.h) and the tensors' raw bytes, written straight from their memory.
// The copy runs on a background thread while training goes on; the caller waits for it before
// the tensors change.
#pragma once

#include <ATen/core/ivalue.h>

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/snapshot_file.h"

namespace nt {

// The job's snapshots of the checkpoint directory `checkpoint_dir` under `root` (/dev/shm):
// "<root>/nanotrain-<uid>-<16 hex digits of the directory's absolute path>".
std::string snapshot_dir(const std::string& root, const std::string& checkpoint_dir);

// What makes a snapshot this job's: its launcher's secret (or run id) and its checkpoint
// directory. A file with another key is never read.
uint64_t snapshot_job_key(const std::string& job_secret, const std::string& checkpoint_dir);

struct SnapshotOptions {
  std::string dir;  // snapshot_dir(...): created 0700 when missing
  uint64_t job_key = 0;
  int rank = 0;
  int world_size = 1;
};

class SnapshotStore {
 public:
  // Never throws for an unusable directory (missing root, another owner, group or other access,
  // a symlink): the store is then disabled and says why.
  explicit SnapshotStore(SnapshotOptions options);
  // Waits for a copy in flight.
  ~SnapshotStore();
  SnapshotStore(const SnapshotStore&) = delete;
  SnapshotStore& operator=(const SnapshotStore&) = delete;

  bool enabled() const { return disabled_reason_.empty(); }
  // Why snapshots are off ("" while enabled): the training goes on with the disk alone.
  const std::string& disabled_reason() const { return disabled_reason_; }
  const std::string& dir() const { return options_.dir; }

  // The node's buffers: each rank's own, and the replicas it keeps for a rank of another node
  // (checkpoint/snapshot_replicas.h).
  enum class Kind { kOwn, kReplica };
  // "<dir>/rank{R}.{index}" or "<dir>/replica{R}.{index}".
  std::string buffer_path(int rank, int index, Kind kind = Kind::kOwn) const;
  // The steps of `rank`'s complete snapshots (own or replicas) of this job and world size, newest
  // first (at most two); each payload's CRC-32C is checked.
  std::vector<int64_t> complete_steps(int rank, Kind kind = Kind::kOwn) const;
  // Whether `header` is one of `rank`'s buffers of this job and world size.
  bool is_ours(const SnapshotHeader& header, int rank) const;
  // Why `rank`'s complete snapshots of this job do not count, if any do not: "rank0.1 holds step
  // 41 of a world of 4 ranks, not 2" (a restart at another world size); "" otherwise.
  std::string other_world_sizes(int rank) const;
  // The payload of `rank`'s snapshot of `step`, tensors on the CPU. Throws std::runtime_error
  // naming the file when no complete snapshot of that step is there.
  c10::IValue read(int64_t step, int rank) const;
  // After resuming from `step`: this rank's other buffer is cleared and written next.
  void keep_only(int64_t step);

  // Starts copying `payload` (dicts, lists, strings, numbers and tensors) as this rank's
  // snapshot of `step` into the older buffer, on a background thread, which first calls
  // `before_reading` (when given: HostStaging::synchronize). Its tensors must not change until
  // wait() returns. The first copy checks that two buffers fit in the directory's free space;
  // one that does not disables the store.
  void begin(int64_t step, c10::IValue payload, std::function<void()> before_reading = nullptr);
  // Blocks until the copy in flight is written. A failed copy (the tmpfs full) is logged and
  // disables the store, never throws: the disk remains.
  void wait();
  // "<dir>/<name>.rank<R>": a small file of this rank's beside its buffers, for what a restarted
  // worker may reuse (trainer/mfu.h's measured peaks); removed with the buffers.
  std::string side_file(const std::string& name) const;
  // Waits, then removes this rank's buffers and side files (a first start's leftovers, a
  // disabled store's).
  void remove_files();
  // At the job's end: remove_files, and the directory once the node's last rank gets here.
  void finish();

  // Bytes one buffer of this rank held after its last copy (0 before the first).
  uint64_t buffer_bytes() const { return buffer_bytes_; }
  // The buffer the last finished copy wrote (-1: none yet); valid after wait().
  int newest_buffer() const { return newest_; }
  // The buffer the next copy writes.
  int next_buffer() const { return next_; }

 private:
  void disable(const std::string& reason);                          // after a failed copy
  void write(int index, int64_t step, const c10::IValue& payload);  // the background thread's

  SnapshotOptions options_;
  std::string disabled_reason_;
  int next_ = 0;     // the buffer the next copy goes into
  int newest_ = -1;  // the buffer the last finished copy wrote
  uint64_t buffer_bytes_ = 0;
  std::thread worker_;
  std::string error_;  // the worker's, read after join
};

}  // namespace nt
