// The Checkpointer's pieces are the nanochat-compatible functions (save_checkpoint,
// load_checkpoint, find_last_step) plus the lock, the asynchronous saver and retention; what it
// adds is deciding, on every rank alike, what happens around them.
#include "checkpoint/checkpointer.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include "checkpoint/async_saver.h"
#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/dir_lock.h"
#include "checkpoint/host_staging.h"
#include "checkpoint/meta.h"
#include "checkpoint/resume_step.h"
#include "checkpoint/sharded_checkpoint.h"
#include "checkpoint/snapshot.h"
#include "checkpoint/snapshot_replicas.h"
#include "checkpoint/step_dir.h"
#include "runtime/config_io.h"
#include "runtime/crash_point.h"
#include "runtime/log.h"
#include "runtime/preemption.h"
#include "runtime/rng_state.h"

namespace nt {

OnSaveError parse_on_save_error(const std::string& text) {
  if (text == "stop") return OnSaveError::kStop;
  if (text == "continue") return OnSaveError::kContinue;
  throw std::invalid_argument(
      fmt::format("on_save_error: expected stop or continue, found '{}'", text));
}

CheckpointLayout parse_checkpoint_layout(const std::string& text) {
  if (text == "gathered") return CheckpointLayout::kGathered;
  if (text == "sharded") return CheckpointLayout::kSharded;
  throw std::invalid_argument(
      fmt::format("checkpoint_layout: expected gathered or sharded, found '{}'", text));
}

Checkpointer::Checkpointer(CheckpointerOptions options, int rank, int world_size,
                           Collectives* collectives)
    : options_(std::move(options)),
      rank_(rank),
      world_size_(world_size),
      collectives_(collectives) {
  const bool sharded = options_.layout == CheckpointLayout::kSharded;
  if (options_.async && sharded) shard_writer_ = std::make_unique<AsyncShardWriter>();
  if (rank_ == 0) {
    lock_ = std::make_unique<DirLock>(options_.dir);
    if (options_.async && !sharded) async_saver_ = std::make_unique<AsyncSaver>();
  }
  if (options_.snapshot_every > 0) open_snapshots();
}

// The savers and the snapshot copy go first: their threads may still be writing.
Checkpointer::~Checkpointer() {
  async_saver_.reset();
  shard_writer_.reset();
  replicas_.reset();
  snapshots_.reset();
  staging_.reset();
}

std::optional<ResumePoint> Checkpointer::find_resume(int64_t resume_from_step,
                                                     const ResumeChecks& checks) {
  auto found = agree_on_resume_step(options_.dir, resume_from_step, options_.prune_abandoned, rank_,
                                    collectives_);
  std::optional<ResumePoint> point;
  if (resume_from_step == kResumeAuto && snapshots_ && options_.restarted)
    point = find_snapshot(found ? found->step : -1);
  if (!point && found) {
    point.emplace();
    point->step = found->step;
    point->meta = std::move(found->meta);
    point->source = options_.dir + "/" + meta_file_name(point->step);
    // The model's shape comes from the checkpoint, so that models --depth cannot describe
    // (nanochat's GQA ones) resume too.
    point->model_config = model_config_from_meta(point->meta, point->source);
  }
  if (replicas_) replicas_->start(point && !point->snapshot.isNone() ? point->step : -1);
  if (point) check_resume_point(*point, checks);
  return point;
}

void Checkpointer::check_resume_point(const ResumePoint& point, const ResumeChecks& checks) const {
  const std::string& where = point.source;
  const GPTConfig& saved = point.model_config;
  if (saved.vocab_size != checks.vocab_size)
    throw std::invalid_argument(
        fmt::format("{}: model_config.vocab_size is {}, the tokenizer in {} has {} tokens", where,
                    saved.vocab_size, checks.tokenizer_dir, checks.vocab_size));
  if (saved.sequence_len < checks.max_seq_len)
    throw std::invalid_argument(
        fmt::format("{}: model_config.sequence_len is {}, shorter than --max_seq_len {}", where,
                    saved.sequence_len, checks.max_seq_len));
  // Metas without the tokenizer's CRC-32C (nanochat's and older ones) are not checked.
  const auto crc = point.meta.find("tokenizer_crc32c");
  if (crc != point.meta.end() && crc->is_string() && *crc != checks.tokenizer_crc32c)
    throw std::invalid_argument(fmt::format(
        "{}: the run was trained with the tokenizer of CRC-32C {}, but {} is {}: resume with "
        "the tokenizer (and data) it was trained with",
        where, crc->get<std::string>(), checks.tokenizer_dir, checks.tokenizer_crc32c));
  if (config_to_json(saved) != config_to_json(checks.requested))
    log0("model: {} from {}, not the flags' {}", config_to_json(saved).dump(), where,
         config_to_json(checks.requested).dump());
}

// Every rank reads the files itself (a shared filesystem, as with nanochat).
TrainState Checkpointer::load(const ResumePoint& point, GPT& model, Optimizers& optimizers,
                              DistributedTokenLoader& loader, torch::Device device) {
  if (!point.snapshot.isNone()) return load_snapshot(point, model, optimizers, loader, device);
  const std::string& dir = options_.dir;
  const int64_t step = point.step;
  auto data = load_checkpoint(dir, step, point.meta, device, /*load_optimizer=*/true);
  load_model_data(model, std::move(data.model_data), parameter_shapes(model), device,
                  dir + "/" + model_file_name(step));
  if (data.optimizer_data)
    optimizers.load_state_dicts(*data.optimizer_data, dir + "/" + optim_file_name(step));
  else
    optimizers.load_state_dict_shards(data.optimizer_shards,
                                      dir + "/" + rank_optim_file_pattern(step));
  const std::string& where = point.source;
  TrainState state = read_train_state(data.meta_data, where);
  if (!state.data) log0("{}: a nanochat checkpoint; the data is read from its start", where);
  try {
    if (state.data) loader.load_state(*state.data);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(fmt::format("{}: cannot resume: {}", where, e.what()));
  }
  if (!state.rng_state.is_null()) restore_rng_state(state.rng_state, where);
  log0("resumed from {} at step {}", dir, step);
  return state;
}

bool Checkpointer::maybe_save(TrainState& state, const GPT& model, const Optimizers& optimizers,
                              const DistributedTokenLoader& loader, const nlohmann::json& run_meta,
                              bool force) {
  const bool due = force || (options_.save_every > 0 && state.step % options_.save_every == 0);
  // Every rank has the same save in flight, so all ask together whether every writer is done.
  if (shard_writer_ && shard_writer_->in_flight() &&
      (due || !on_any_rank(!shard_writer_->done(), collectives_)))
    agree_on_save(commit_shard_write());
  if (!due) return false;
  state.data = loader.state();
  save(state, model, optimizers, run_meta, /*wait=*/force);
  if (rank_ == 0) crash_point("after_checkpoint");
  return true;
}

nlohmann::json Checkpointer::step_meta(const TrainState& state,
                                       const nlohmann::json& run_meta) const {
  nlohmann::json meta = run_meta;
  TrainState saved = state;
  saved.rng_state = rng_state_to_json();
  write_train_state(saved, world_size_, meta);
  return meta;
}

void Checkpointer::save(const TrainState& state, const GPT& model, const Optimizers& optimizers,
                        const nlohmann::json& run_meta, bool wait) {
  // A stop for a failed group lets this rank finish the files it is writing (the step may
  // complete on disk); background writers are not waited for.
  const CheckpointWriteGuard writing;
  // Rank 0's RNG is the one written: every rank seeds alike.
  const nlohmann::json meta = step_meta(state, run_meta);
  agree_on_save(options_.layout == CheckpointLayout::kSharded
                    ? save_sharded(state, model, optimizers, meta, wait)
                    : save_gathered(state, model, optimizers, meta));
}

std::string Checkpointer::save_sharded(const TrainState& state, const GPT& model,
                                       const Optimizers& optimizers, const nlohmann::json& meta,
                                       bool wait) {
  if (shard_writer_) agree_on_save(commit_shard_write());  // the previous save comes first
  try {
    if (shard_writer_ && !wait) {
      prepare_sharded_step(options_.dir, state.step, rank_, collectives_);
      shard_writer_->start(options_.dir, state.step, model_state_dict(model),
                           optimizers.shard_state_dicts(), meta, rank_);
      return "";
    }
    save_sharded_checkpoint(options_.dir, state.step, model_state_dict(model),
                            optimizers.shard_state_dicts(), meta, rank_, world_size_, collectives_);
    if (rank_ == 0) prune();
    return "";
  } catch (const std::exception& e) {
    return save_failure(state.step, e.what());
  }
}

std::string Checkpointer::commit_shard_write() {
  if (!shard_writer_ || !shard_writer_->in_flight()) return "";
  const int64_t step = shard_writer_->step();
  try {
    commit_sharded_step(options_.dir, step, shard_writer_->meta(), shard_writer_->take(), rank_,
                        world_size_, collectives_);
    if (rank_ == 0) prune();
    return "";
  } catch (const std::exception& e) {
    return save_failure(step, e.what());
  }
}

std::string Checkpointer::save_gathered(const TrainState& state, const GPT& model,
                                        const Optimizers& optimizers, const nlohmann::json& meta) {
  const auto optimizer_data = optimizers.state_dicts();  // collective: every rank gathers
  std::string error;
  if (rank_ == 0) {
    if (async_saver_) error = async_saver_->take_error();  // the previous save's, if it failed
    // After a failure with kStop nothing more is written: the job is stopping.
    if (error.empty() || options_.on_save_error == OnSaveError::kContinue) {
      try {
        if (async_saver_)
          async_saver_->save(options_.dir, state.step, model_state_dict(model), optimizer_data,
                             meta, rank_, world_size_);
        else
          save_checkpoint(options_.dir, state.step, model_state_dict(model), optimizer_data, meta,
                          rank_, world_size_);
        prune();
      } catch (const std::exception& e) {
        error += (error.empty() ? "" : "; ") + save_failure(state.step, e.what());
      }
    }
  }
  return error;
}

// Only complete steps are pruned, so a step still being written is never touched.
void Checkpointer::prune() const {
  if (options_.keep_last > 0) prune_checkpoints(options_.dir, options_.keep_last);
}

void Checkpointer::finish() {
  agree_on_save(async_saver_ ? async_saver_->take_error() : commit_shard_write());
  if (snapshots_) snapshots_->wait();  // the disk now holds the last step: no replica of it
  copy_in_flight_ = false;
  if (replicas_) replicas_->finish();
  if (snapshots_) snapshots_->finish();
}

// A failed save stops all ranks at once rather than leaving the others waiting in a collective.
void Checkpointer::agree_on_save(const std::string& error) {
  if (!on_any_rank(!error.empty(), collectives_)) return;
  if (options_.on_save_error == OnSaveError::kContinue) {
    if (!error.empty())
      spdlog::info("warning: {}; training goes on (on_save_error=continue)", error);
    return;
  }
  if (!error.empty())
    throw std::runtime_error(
        fmt::format("{}; training stopped (on_save_error=stop), earlier steps are intact", error));
  throw std::runtime_error(fmt::format(
      "rank {}: training stopped: the checkpoint save failed on another rank (its log says why)",
      rank_));
}

}  // namespace nt
