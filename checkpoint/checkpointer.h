// The trainer's one door to its checkpoint directory. Told its rank and world, it owns the
// directory's lock, where to resume (the step every rank agrees on, its meta read once and
// checked against the run), loading it, when to save (save_every, the last step, preemption),
// which ranks write what (gathered: rank 0 alone; sharded: every rank its own optimizer state, at
// once; either synchronously or on background threads), retention after each save, and the
// ranks' agreement on a failed save. The meta's training keys come from TrainState.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "checkpoint/resume_step.h"
#include "checkpoint/train_state.h"
#include "data/token_loader.h"
#include "model/gpt.h"
#include "optim/setup.h"
#include "runtime/collectives.h"

namespace nt {

class AsyncSaver;
class AsyncShardWriter;
class DirLock;
class HostStaging;
class SnapshotReplicas;
class SnapshotStore;

enum class OnSaveError { kStop, kContinue };

// "stop" or "continue"; throws std::invalid_argument naming on_save_error.
OnSaveError parse_on_save_error(const std::string& text);

// gathered: nanochat's files (model, optim list, meta), rank 0 writes all. sharded: see
// checkpoint/sharded_checkpoint.h.
enum class CheckpointLayout { kGathered, kSharded };

// "gathered" or "sharded"; throws std::invalid_argument naming checkpoint_layout.
CheckpointLayout parse_checkpoint_layout(const std::string& text);

struct CheckpointerOptions {
  std::string dir;          // the run's checkpoint directory, the same for every rank
  int64_t keep_last = -1;   // steps kept after each save; -1: all
  int64_t save_every = -1;  // maybe_save saves every this many steps; <= 0: only when forced
  bool async = false;       // the writers work on background threads; the loop goes on
  OnSaveError on_save_error = OnSaveError::kStop;  // kContinue: log a failed save, train on
  bool prune_abandoned = false;  // a rollback deletes the later steps (see resume_step.h)
  CheckpointLayout layout = CheckpointLayout::kGathered;
  // Per-step snapshots in memory (checkpoint/snapshot.h), the first place a restart looks.
  int64_t snapshot_every = 0;              // > 0: every this many steps; 0: none
  std::string snapshot_root = "/dev/shm";  // a node-local tmpfs
  std::string job_secret = "";             // DistEnv::job_secret: marks the job's snapshots
  int local_rank = 0;        // this node's ranks share the model's parameters out among their
  int local_world_size = 1;  // snapshots (ranks rank - local_rank ... + local_world_size - 1)
  bool restarted = false;    // the launcher restarted the workers: this job's snapshots may exist
};

// What a resumed run must agree with: the model the flags describe and the tokenizer it reads.
struct ResumeChecks {
  GPTConfig requested;           // from --depth; the saved one wins (logged when it differs)
  int64_t max_seq_len = 0;       // must fit the saved model_config.sequence_len
  std::string tokenizer_dir;     // for messages
  int64_t vocab_size = 0;        // must equal the saved model_config.vocab_size
  std::string tokenizer_crc32c;  // must equal the meta's, when it recorded one
};

// Where the newest consistent state is: every rank's snapshot in memory, else a complete step on
// disk; read once.
struct ResumePoint {
  int64_t step = -1;
  nlohmann::json meta;     // the step's meta, as read_meta returns it
  GPTConfig model_config;  // the model to build before load()
  std::string source;      // the meta's path (or the snapshots'), for messages
  c10::IValue snapshot;    // from memory: {"model": whole, "optim": this rank's}; None: disk
};

class Checkpointer {
 public:
  // Rank 0 creates the directory and holds its lock until destruction. `collectives` is nullptr
  // for a world of one and must outlive the Checkpointer.
  Checkpointer(CheckpointerOptions options, int rank, int world_size, Collectives* collectives);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  const std::string& dir() const { return options_.dir; }
  // A file of this rank's in node-local memory that outlives the worker, for what a restarted
  // attempt may reuse instead of measuring again; "" without snapshots.
  std::string restart_cache_file() const;

  // Every rank: where to resume, the same on all; nullopt for a fresh start.
  // `resume_from_step` is -1, kResumeAuto or a step (see agree_on_resume_step). With kResumeAuto
  // after a restart, the newest step whose snapshot every rank holds wins over an older step on
  // disk; rank 0 logs which source it took and why. Each rank reads the step's meta once, here.
  // Throws std::invalid_argument naming the meta when the step does not agree with `checks`
  // (another tokenizer, a shorter sequence length).
  std::optional<ResumePoint> find_resume(int64_t resume_from_step, const ResumeChecks& checks);
  // Every rank: loads `point` into `model` (built from point.model_config) and `optimizers`
  // (tensors on `device`), moves `loader` to the recorded data position (a nanochat checkpoint
  // has none: the data starts afresh), restores the recorded RNG states, and returns the
  // TrainState. Throws std::runtime_error naming the file and key.
  TrainState load(const ResumePoint& point, GPT& model, Optimizers& optimizers,
                  DistributedTokenLoader& loader, torch::Device device);
  // Every rank, after each step: saves when `force` (the last step, a preemption) or every
  // save_every steps, with the loader's position. Returns whether it saved. With async and the
  // sharded layout it first commits an earlier save whose writers have all finished (or, when
  // saving now, waits for them); a forced save is written before it returns.
  bool maybe_save(TrainState& state, const GPT& model, const Optimizers& optimizers,
                  const DistributedTokenLoader& loader, const nlohmann::json& run_meta, bool force);
  // Every rank, after maybe_save: every snapshot_every steps, starts copying this rank's part of
  // the state (its optimizer shard, the loader, RNG and loop state, and its node-local share of
  // the model's parameters) into its snapshot, on a background thread.
  void maybe_snapshot(const TrainState& state, const GPT& model, const Optimizers& optimizers,
                      const DistributedTokenLoader& loader, const nlohmann::json& run_meta);
  // Every rank, before optimizers.step() changes what the copy reads: waits for it (and hands the
  // finished buffer to the replica sender, when the job spans nodes).
  void wait_for_snapshot();
  // Every rank: saves step state.step (state.data: the loader's position) in the layout chosen
  // (gathered: the optimizer state is gathered collectively and rank 0 writes; sharded: every
  // rank writes its own part) with `run_meta`'s keys (model_config,
  // user_config, ...), the state's and this process's RNG states, then applies keep_last. A failed
  // save (this one, or an asynchronous one before it) throws std::runtime_error on every rank, or
  // with kContinue is logged. `wait`: write now even when async (the last step, a preemption).
  void save(const TrainState& state, const GPT& model, const Optimizers& optimizers,
            const nlohmann::json& run_meta, bool wait = false);
  // Every rank, after the last save: waits for an asynchronous save and agrees on its outcome;
  // removes this rank's snapshots, which the disk now supersedes.
  void finish();

 private:
  // Every rank, when snapshot_every > 0: the store (and the replicas' channel, a collective, when
  // the job spans nodes); a first start removes an earlier job's buffers.
  void open_snapshots();
  // `run_meta` with the state's keys, this process's RNG and the world size.
  nlohmann::json step_meta(const TrainState& state, const nlohmann::json& run_meta) const;
  // Throws std::invalid_argument when `point` does not agree with `checks`.
  void check_resume_point(const ResumePoint& point, const ResumeChecks& checks) const;
  // Every rank: the newest step above `disk_step` whose snapshot every rank holds (its own, or
  // the replica another node keeps of it, which is first sent back), read; else nullopt, with
  // rank 0 logging why.
  std::optional<ResumePoint> find_snapshot(int64_t disk_step);
  // Every rank: the step every rank's snapshot can provide (its own, or a replica) among the
  // all-gathered `held` (world_size x 4: two own steps, two steps of the replica it keeps);
  // -1 when none.
  int64_t agreed_snapshot_step(const at::Tensor& held) const;
  // Every rank: sends each rank of `chosen` that lost its buffers its replica back; the ranks
  // agree on a failure (logged), after which the disk is used.
  bool restore_lost_snapshots(const at::Tensor& held, int64_t chosen);
  TrainState load_snapshot(const ResumePoint& point, GPT& model, Optimizers& optimizers,
                           DistributedTokenLoader& loader, torch::Device device);
  // Each returns this rank's error, "" when its part of the save worked.
  std::string save_gathered(const TrainState& state, const GPT& model, const Optimizers& optimizers,
                            const nlohmann::json& meta);
  std::string save_sharded(const TrainState& state, const GPT& model, const Optimizers& optimizers,
                           const nlohmann::json& meta, bool wait);
  // Every rank: waits for this rank's shard writer and commits its step (round three); returns
  // this rank's error, "" when the step was committed or nothing was in flight.
  std::string commit_shard_write();
  // Rank 0, after a committed save: applies keep_last.
  void prune() const;
  // Every rank: a failed save on any rank (`error` not "" here) decides for all.
  void agree_on_save(const std::string& error);

  CheckpointerOptions options_;
  int rank_;
  int world_size_;
  Collectives* collectives_;
  std::unique_ptr<DirLock> lock_;                   // rank 0's
  std::unique_ptr<AsyncSaver> async_saver_;         // rank 0's, when options.async and gathered
  std::unique_ptr<AsyncShardWriter> shard_writer_;  // every rank's, when async and sharded
  std::unique_ptr<SnapshotStore> snapshots_;        // every rank's, when options.snapshot_every > 0
  std::unique_ptr<SnapshotReplicas> replicas_;      // when the job spans nodes
  std::unique_ptr<HostStaging> staging_;            // its device-to-host copies (CUDA)
  bool copy_in_flight_ = false;                     // a snapshot copy not yet waited for
  bool sizes_logged_ = false;                       // rank 0 logged the snapshots' size
};

}  // namespace nt
