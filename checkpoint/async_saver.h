// Asynchronous checkpointing: the state is copied to host memory while the caller waits (the
// only part that stalls training), then written by a background thread through
// save_checkpoint while training goes on. At most one save is in flight.
#pragma once

#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "checkpoint/checkpoint_manager.h"

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

}  // namespace nt
