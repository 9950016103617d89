// Asynchronous checkpointing: the state is copied to host memory while the caller waits (the
// only part that stalls training), then written by a background thread while training goes on:
// rank 0's whole save through save_checkpoint (AsyncSaver), or one rank's round of a sharded
// save (AsyncShardWriter). At most one save is in flight.
#pragma once

#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/sharded_checkpoint.h"

namespace nt {

// "checkpoint of step N failed: <what>", the message of every failed save.
std::string save_failure(int64_t step, const std::string& what);

// A deep copy of `value` with every tensor copied to CPU memory (dicts, lists, tuples kept).
c10::IValue copy_to_host(const c10::IValue& value);

class AsyncSaver {
 public:
  AsyncSaver() = default;
  // Waits for a save in flight; an error it had is logged (a destructor cannot throw): call
  // wait() before exiting to have it raised.
  ~AsyncSaver();
  AsyncSaver(const AsyncSaver&) = delete;
  AsyncSaver& operator=(const AsyncSaver&) = delete;

  // Waits for the previous save (rethrowing its error, if take_error did not take it), snapshots
  // the state to host memory and starts writing it. Same arguments and rank rule as
  // save_checkpoint.
  void save(const std::string& checkpoint_dir, int64_t step, const ModelData& model_data,
            const std::optional<c10::IValue>& optimizer_data, const nlohmann::json& meta_data,
            int rank = 0, int world_size = 1);

  // Blocks until no save is in flight; rethrows the error of the last one, if any.
  void wait();

  // Blocks until no save is in flight; returns the last one's error as "checkpoint of step N
  // failed: ..." ("" if it worked) and clears it.
  std::string take_error();

 private:
  std::thread worker_;
  std::mutex mutex_;
  std::exception_ptr error_;
  int64_t error_step_ = -1;  // the step whose save failed
};

// Round two of a sharded save (write_shard) on a background thread, on every rank; the caller
// runs rounds one and three, which are collective. The ranks learn together when every writer is
// done (done() on each, agreed with on_any_rank) and commit then, so the loop never waits for
// the disk unless the next save comes first.
class AsyncShardWriter {
 public:
  AsyncShardWriter() = default;
  ~AsyncShardWriter();  // waits for the write in flight
  AsyncShardWriter(const AsyncShardWriter&) = delete;
  AsyncShardWriter& operator=(const AsyncShardWriter&) = delete;

  // Copies `optimizer_shard` (and on rank 0 `model_data`) to host memory and starts writing
  // step `step`'s files after prepare_sharded_step. Precondition: nothing in flight (take()).
  void start(const std::string& checkpoint_dir, int64_t step, const ModelData& model_data,
             const c10::IValue& optimizer_shard, nlohmann::json meta_data, int rank);
  bool in_flight() const { return worker_.joinable(); }
  bool done() const { return done_.load(); }  // the write in flight has finished
  int64_t step() const { return step_; }
  const nlohmann::json& meta() const { return meta_; }
  // Waits for the write in flight and returns its outcome; nothing is in flight after.
  ShardWrite take();

 private:
  std::thread worker_;
  std::atomic<bool> done_{false};
  ShardWrite result_;  // written by worker_ before done_
  int64_t step_ = -1;
  nlohmann::json meta_;
};

}  // namespace nt
