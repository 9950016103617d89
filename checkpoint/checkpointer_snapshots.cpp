// The Checkpointer's per-step snapshots in memory (checkpoint/snapshot.h) and their replicas on
// another node (checkpoint/snapshot_replicas.h): opening them, the copy after each step, and
// the restart that finds every rank's state there, or sends a lost node's back to it first.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/checkpointer.h"
#include "checkpoint/host_staging.h"
#include "checkpoint/meta.h"
#include "checkpoint/snapshot.h"
#include "checkpoint/snapshot_replicas.h"
#include "runtime/log.h"
#include "runtime/rng_state.h"

namespace nt {
namespace {

// How long a replica's receiver waits for its sender's next buffer: a step, an evaluation or a
// save may take long; a sender that died closes the connection at once instead.
constexpr std::chrono::hours kReplicaWait{24};

// Local rank `part`'s share of the model's parameters among `parts`: each parameter, largest
// first, goes to the share holding the fewest bytes so far, so that every rank copies about as
// much and none waits for a larger copy. The same on every rank, from the shapes alone.
ModelData model_share(const ModelData& all, int part, int parts) {
  std::vector<std::pair<int64_t, std::string>> by_size;
  for (const auto& item : all)
    by_size.emplace_back(-static_cast<int64_t>(item.value().nbytes()), item.key());
  std::sort(by_size.begin(), by_size.end());
  std::vector<int64_t> held(static_cast<size_t>(parts), 0);
  ModelData share;
  for (const auto& [negative_bytes, name] : by_size) {
    const auto least = std::min_element(held.begin(), held.end()) - held.begin();
    held[static_cast<size_t>(least)] -= negative_bytes;
    if (least == part) share.insert(name, all.at(name));
  }
  return share;
}

}  // namespace

void Checkpointer::open_snapshots() {
  staging_ = std::make_unique<HostStaging>();
  snapshots_ = std::make_unique<SnapshotStore>(
      SnapshotOptions{snapshot_dir(options_.snapshot_root, options_.dir),
                      snapshot_job_key(options_.job_secret, options_.dir), rank_, world_size_});
  if (!snapshots_->enabled())
    spdlog::info("warning: snapshots off: {}; recovery falls back to the disk",
                 snapshots_->disabled_reason());
  else if (!options_.restarted)
    snapshots_->remove_files();  // a first start: what is there is an earlier job's
  // Every rank opens the channel, as a collective, whether or not its own store works.
  const int nodes = world_size_ / options_.local_world_size;
  if (collectives_ && nodes > 1 && world_size_ % options_.local_world_size == 0)
    replicas_ = std::make_unique<SnapshotReplicas>(
        *snapshots_, collectives_->open_peer_channel("nt/snapshot_replicas/", kReplicaWait), rank_,
        options_.local_world_size, world_size_);
}

std::string Checkpointer::restart_cache_file() const {
  return snapshots_ && snapshots_->enabled() ? snapshots_->side_file("measured.json") : "";
}

std::optional<ResumePoint> Checkpointer::find_snapshot(int64_t disk_step) {
  const std::vector<int64_t> mine = snapshots_->complete_steps(rank_);
  const std::vector<int64_t> kept = replicas_ ? replicas_->steps() : std::vector<int64_t>{};
  // Every rank's two newest own steps and the two of the replica it keeps, -1 where none. The
  // copy of step s ends before any rank passes step s+1's collectives, so the ranks' newest
  // steps differ by one at most and the two buffers always share a step, unless a rank's node
  // lost them.
  auto listed = torch::full({4}, int64_t{-1}, torch::kLong);
  for (size_t i = 0; i < mine.size() && i < 2; ++i) listed[static_cast<int64_t>(i)] = mine[i];
  for (size_t i = 0; i < kept.size() && i < 2; ++i) listed[static_cast<int64_t>(2 + i)] = kept[i];
  if (collectives_) listed = collectives_->all_gather(listed, 4 * world_size_);
  const auto held = listed.view({world_size_, 4});
  const int64_t chosen = agreed_snapshot_step(held);
  const std::string disk = disk_step < 0 ? "none" : std::to_string(disk_step);
  if (chosen < 0) {
    // A restart at another world size: the buffers' split of the state is not this world's.
    const std::string other = snapshots_->other_world_sizes(rank_);
    log0(
        "resume: no step that every rank's snapshot holds (rank 0 holds {}{}{}); from the disk "
        "(newest complete step: {})",
        mine.empty() ? "none" : fmt::format("[{}]", fmt::join(mine, ", ")),
        snapshots_->enabled() ? "" : ", snapshots off: " + snapshots_->disabled_reason(),
        other.empty() ? "" : ", " + other, disk);
    return std::nullopt;
  }
  if (chosen <= disk_step) {
    log0("resume: the disk's step {} is not older than the snapshots' {}: from the disk", disk_step,
         chosen);
    return std::nullopt;
  }
  if (replicas_ && !restore_lost_snapshots(held, chosen)) {
    log0(
        "resume: a lost snapshot of step {} could not be sent back (the log says why); from the "
        "disk (newest complete step: {})",
        chosen, disk);
    return std::nullopt;
  }
  ResumePoint point;
  point.step = chosen;
  point.source = fmt::format("{} (snapshots of step {})", snapshots_->dir(), chosen);
  std::string error;
  try {
    auto own = snapshots_->read(chosen, rank_).toGenericDict();
    // The model's parameters, from every rank of this node.
    c10::impl::GenericDict model(c10::StringType::get(), c10::AnyType::get());
    for (int r = rank_ - options_.local_rank;
         r < rank_ - options_.local_rank + options_.local_world_size; ++r) {
      const auto part = r == rank_ ? own : snapshots_->read(chosen, r).toGenericDict();
      for (const auto& item : part.at("model").toGenericDict())
        model.insert(item.key(), item.value());
    }
    point.meta = nlohmann::json::parse(own.at("meta").toStringRef());
    point.model_config = model_config_from_meta(point.meta, point.source);
    c10::impl::GenericDict payload(c10::StringType::get(), c10::AnyType::get());
    payload.insert("model", model);
    payload.insert("optim", own.at("optim"));
    point.snapshot = payload;
  } catch (const std::exception& e) {
    error = fmt::format("rank {}: {}", rank_, e.what());
  }
  if (on_any_rank(!error.empty(), collectives_)) {
    if (!error.empty()) spdlog::info("warning: cannot read the snapshot: {}", error);
    log0(
        "resume: a rank could not read its snapshot of step {} (its log says why); from the "
        "disk (newest complete step: {})",
        chosen, disk);
    return std::nullopt;
  }
  log0(
      "resume: from memory, step {}: every rank's snapshot in {} (newest complete step on disk: "
      "{})",
      chosen, snapshots_->dir(), disk);
  return point;
}

int64_t Checkpointer::agreed_snapshot_step(const at::Tensor& held) const {
  const auto own = held.narrow(1, 0, 2), kept = held.narrow(1, 2, 2);
  int64_t chosen = -1;
  for (int64_t candidate :
       std::vector<int64_t>(held.data_ptr<int64_t>(), held.data_ptr<int64_t>() + held.numel())) {
    if (candidate <= chosen) continue;
    bool everywhere = true;
    for (int r = 0; r < world_size_ && everywhere; ++r)
      everywhere = (own[r] == candidate).any().item<bool>() ||
                   (replicas_ &&
                    (kept[replica_target(r, options_.local_world_size, world_size_)] == candidate)
                        .any()
                        .item<bool>());
    if (everywhere) chosen = candidate;
  }
  return chosen;
}

bool Checkpointer::restore_lost_snapshots(const at::Tensor& held, int64_t chosen) {
  std::string error;
  std::vector<int> lost;
  // In rank order on every rank: each transfer's two ends meet in the same place.
  for (int r = 0; r < world_size_; ++r) {
    if ((held[r].narrow(0, 0, 2) == chosen).any().item<bool>()) continue;
    lost.push_back(r);
    const int keeper = replica_target(r, options_.local_world_size, world_size_);
    if (!error.empty() || (rank_ != r && rank_ != keeper)) continue;
    try {
      if (rank_ == keeper)
        replicas_->restore_to(r, chosen);
      else
        replicas_->restore_from(keeper, chosen);
    } catch (const std::exception& e) {
      error = e.what();
      spdlog::info("warning: cannot restore a lost snapshot: {}", error);
    }
  }
  if (on_any_rank(!error.empty(), collectives_)) return false;
  if (!lost.empty())
    log0(
        "resume: rank(s) {} lost their snapshots of step {} (a node's memory is gone): sent back "
        "from the replicas on the next node",
        fmt::join(lost, ", "), chosen);
  return true;
}

TrainState Checkpointer::load_snapshot(const ResumePoint& point, GPT& model, Optimizers& optimizers,
                                       DistributedTokenLoader& loader, torch::Device device) {
  const std::string& where = point.source;
  const auto payload = point.snapshot.toGenericDict();
  ModelData model_data;
  for (const auto& item : payload.at("model").toGenericDict())
    model_data.insert(item.key().toStringRef(), item.value().toTensor());
  load_model_data(model, std::move(model_data), parameter_shapes(model), device, where);
  optimizers.load_shard_state_dicts(payload.at("optim"), where);
  TrainState state = read_train_state(point.meta, where);
  try {
    loader.load_state(*state.data);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(fmt::format("{}: cannot resume: {}", where, e.what()));
  }
  restore_rng_state(state.rng_state, where);  // this rank's own
  snapshots_->keep_only(point.step);
  log0("resumed from memory at step {}", point.step);
  return state;
}

void Checkpointer::maybe_snapshot(const TrainState& state, const GPT& model,
                                  const Optimizers& optimizers,
                                  const DistributedTokenLoader& loader,
                                  const nlohmann::json& run_meta) {
  if (!snapshots_ || !snapshots_->enabled() || state.step % options_.snapshot_every != 0) return;
  TrainState snapshot = state;
  snapshot.data = loader.state();
  nlohmann::json meta = step_meta(snapshot, run_meta);
  // What read_train_state takes for nanotrain's own meta; the snapshot's header commits it.
  meta["step"] = state.step;
  meta["format_version"] = kMetaFormatVersion;
  meta["files"] = nlohmann::json::object();
  c10::impl::GenericDict payload(c10::StringType::get(), c10::AnyType::get());
  payload.insert("meta", meta.dump());
  payload.insert("optim", optimizers.shard_state_dicts());  // aliases: no copy here
  payload.insert("model", model_share(model_state_dict(model), options_.local_rank,
                                      options_.local_world_size));
  wait_for_snapshot();  // the previous copy reads the staging buffers until it ends
  // The first copy's size, once it is known: waiting for it would stall a restart's first step.
  if (rank_ == 0 && !sizes_logged_ && snapshots_->buffer_bytes() > 0) {
    sizes_logged_ = true;
    // Every local rank holds about as much (the model is shared out by size), and with replicas
    // the node keeps as much again for the previous node's ranks.
    const double per_node = 2.0 * static_cast<double>(snapshots_->buffer_bytes()) *
                            options_.local_world_size * (replicas_ ? 2 : 1);
    log0(
        "snapshots: every {} step(s) into {}: two buffers of {:.1f} MB on rank 0, about {:.1f} MB "
        "per node{}",
        options_.snapshot_every, snapshots_->dir(), snapshots_->buffer_bytes() / 1e6,
        per_node / 1e6,
        replicas_ ? fmt::format(", replicas included (rank 0's go to rank {})", replicas_->target())
                  : "");
  }
  if (replicas_) replicas_->release(snapshots_->next_buffer());  // the sender may still read it
  snapshots_->begin(state.step, staging_->stage(payload), [this] { staging_->synchronize(); });
  copy_in_flight_ = true;
}

void Checkpointer::wait_for_snapshot() {
  if (!snapshots_) return;
  snapshots_->wait();
  if (copy_in_flight_ && replicas_) replicas_->send_newest();
  copy_in_flight_ = false;
}

}  // namespace nt
