// The sharded save is three rounds: rank 0 prepares the directory (all wait for it), every rank
// writes its file (no communication while writing, so it may run on a background thread), every
// rank reports [failed, bytes, CRC-32C] (one small broadcast per rank, byte-exact on Gloo and
// NCCL alike); then rank 0 commits.
#include "checkpoint/sharded_checkpoint.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <stdexcept>

#include "checkpoint/meta.h"
#include "checkpoint/step_dir.h"
#include "runtime/crash_point.h"
#include "runtime/log.h"
#include "serialize/torch_file.h"

namespace nt {
namespace {

struct ShardReport {
  bool failed = true;
  WrittenFile file;
};

// Every rank's report, in rank order.
std::vector<ShardReport> exchange_reports(const ShardReport& mine, int rank, int world_size,
                                          Collectives* collectives) {
  std::vector<ShardReport> reports(world_size);
  reports[rank] = mine;
  if (!collectives) return reports;
  for (int r = 0; r < world_size; ++r) {
    auto record = torch::zeros({3}, torch::kInt64);
    if (r == rank)
      record =
          torch::tensor({static_cast<int64_t>(mine.failed), static_cast<int64_t>(mine.file.bytes),
                         static_cast<int64_t>(mine.file.crc32c)},
                        torch::kInt64);
    collectives->broadcast(record, r);
    reports[r].failed = record[0].item<int64_t>() != 0;
    reports[r].file.bytes = static_cast<uint64_t>(record[1].item<int64_t>());
    reports[r].file.crc32c = static_cast<uint32_t>(record[2].item<int64_t>());
  }
  return reports;
}

}  // namespace

bool is_sharded_step(const nlohmann::json& meta) {
  return meta.contains("optim_shards");
}

void prepare_sharded_step(const std::string& checkpoint_dir, int64_t step, int rank,
                          Collectives* collectives) {
  if (step < 0) throw std::invalid_argument(fmt::format("save_checkpoint: step {} < 0", step));
  std::string error;
  if (rank == 0) {
    try {
      prepare_step(checkpoint_dir, step);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  // No rank may write before rank 0 has cleared what an earlier attempt at this step left.
  if (on_any_rank(!error.empty(), collectives)) {
    if (rank == 0) throw std::runtime_error(error);
    throw std::runtime_error(
        fmt::format("rank 0 could not prepare '{}' for step {}", checkpoint_dir, step));
  }
}

ShardWrite write_shard(const std::string& checkpoint_dir, int64_t step, const ModelData& model_data,
                       const c10::IValue& optimizer_shard, int rank) {
  ShardWrite mine;
  try {
    if (rank == 0) {
      mine.model = save_torch_file(model_data, checkpoint_dir + "/" + model_file_name(step));
      log0("Saved model parameters to: {}/{}", checkpoint_dir, model_file_name(step));
    }
    mine.shard =
        save_torch_file(optimizer_shard, checkpoint_dir + "/" + rank_optim_file_name(step, rank));
    crash_point("after_shard");
  } catch (const std::exception& e) {
    mine.error = e.what();
  }
  return mine;
}

void commit_sharded_step(const std::string& checkpoint_dir, int64_t step,
                         const nlohmann::json& meta_data, const ShardWrite& mine, int rank,
                         int world_size, Collectives* collectives) {
  ShardReport report;
  report.failed = !mine.error.empty();
  report.file = mine.shard;
  const auto reports = exchange_reports(report, rank, world_size, collectives);
  std::vector<int> failed;
  for (int r = 0; r < world_size; ++r)
    if (reports[r].failed) failed.push_back(r);
  if (!failed.empty()) {
    if (rank == 0) {
      try {
        remove_step(checkpoint_dir, step);
      } catch (const std::exception&) {
        // The writers' errors are the ones to report.
      }
    }
    if (!mine.error.empty()) throw std::runtime_error(mine.error);
    throw std::runtime_error(
        fmt::format("rank(s) [{}] could not write their optimizer shard (their logs say why)",
                    fmt::join(failed, ", ")));
  }
  if (rank != 0) return;
  log0("Saved the optimizer shards of {} rank(s) to: {}/{}", world_size, checkpoint_dir,
       rank_optim_file_pattern(step));
  CommitRecord record;
  record.world_size = world_size;
  record.optim_shards = world_size;
  record.add(model_file_name(step), mine.model);
  for (int r = 0; r < world_size; ++r) record.add(rank_optim_file_name(step, r), reports[r].file);
  commit_step(checkpoint_dir, step, meta_data, record);
}

void save_sharded_checkpoint(const std::string& checkpoint_dir, int64_t step,
                             const ModelData& model_data, const c10::IValue& optimizer_shard,
                             const nlohmann::json& meta_data, int rank, int world_size,
                             Collectives* collectives) {
  prepare_sharded_step(checkpoint_dir, step, rank, collectives);
  const ShardWrite mine = write_shard(checkpoint_dir, step, model_data, optimizer_shard, rank);
  commit_sharded_step(checkpoint_dir, step, meta_data, mine, rank, world_size, collectives);
}

std::vector<c10::IValue> load_optimizer_shards(const std::string& checkpoint_dir, int64_t step,
                                               const nlohmann::json& meta) {
  const std::string meta_path = checkpoint_dir + "/" + meta_file_name(step);
  const auto& count = meta.at("optim_shards");
  if (!count.is_number_integer() || count.get<int64_t>() < 1)
    throw std::runtime_error(fmt::format(
        "{}: key 'optim_shards': expected a positive integer, found {}", meta_path, count.dump()));
  std::vector<c10::IValue> shards;
  for (int64_t r = 0; r < count.get<int64_t>(); ++r) {
    const std::string name = rank_optim_file_name(step, r);
    if (!meta.at("files").contains(name))
      throw std::runtime_error(fmt::format("{}: optim_shards is {} but files does not name {}",
                                           meta_path, count.get<int64_t>(), name));
    shards.push_back(load_torch_file(checkpoint_dir + "/" + name, torch::kCPU));
  }
  return shards;
}

}  // namespace nt
