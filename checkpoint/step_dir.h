// The directory of steps and each step's lifecycle: nanochat's file names (model_{step:06d}.pt,
// optim_{step:06d}.pt or per rank optim_{step:06d}_rank{r}.pt, meta_{step:06d}.json) and their
// one parser; staging a step, committing it (the meta, written last, is the commit record, and
// only commit_step writes its keys), listing the complete steps, removing steps and retention.
// The gathered and sharded writers (checkpoint_manager, sharded_checkpoint) write over it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "serialize/atomic_file.h"

namespace nt {

std::string model_file_name(int64_t step);  // "model_000042.pt"
std::string optim_file_name(int64_t step);  // "optim_000042.pt"
std::string meta_file_name(int64_t step);   // "meta_000042.json"
// nanochat's optimizer file of one rank: "optim_000042_rank3.pt".
std::string rank_optim_file_name(int64_t step, int64_t rank);
// All of them, for messages: "optim_000042_rank*.pt".
std::string rank_optim_file_pattern(int64_t step);

enum class StepFileKind { kModel, kOptim, kRankOptim, kMeta };

struct StepFile {
  int64_t step = -1;
  StepFileKind kind = StepFileKind::kModel;
  int64_t rank = -1;  // kRankOptim only
};

// The one parser of step file names: a name exactly as the functions above write it (the step
// as {:06d} writes it, so "model_0000001.pt" and "model_-1.pt" are not steps; a rank as {:d}
// writes it), else nullopt.
std::optional<StepFile> parse_step_file(const std::string& name);

// The ranks with a per-rank optimizer file of `step` in `checkpoint_dir`, ascending.
std::vector<int64_t> list_rank_optim_files(const std::string& checkpoint_dir, int64_t step);

// Bytes of a step's model, optim (whole or per rank) and meta files that exist.
uint64_t step_bytes(const std::string& checkpoint_dir, int64_t step);

// Every step with a meta file in `checkpoint_dir`, ascending; complete or not. Throws
// std::runtime_error naming the directory when it cannot be listed.
std::vector<int64_t> list_meta_steps(const std::string& checkpoint_dir);

// A complete step and its meta, parsed once (as read_meta returns it).
struct CompleteStep {
  int64_t step = -1;
  nlohmann::json meta;
};

// The meta of `step` when the step is complete: the meta parses, names its files, and every
// file is there with the recorded size (checksums are not read: see verify_files). A meta
// without a commit record (nanochat's) counts when the step's model file exists. Else nullopt.
std::optional<nlohmann::json> complete_step_meta(const std::string& checkpoint_dir, int64_t step);
// Whether complete_step_meta finds the step complete.
bool is_complete_step(const std::string& checkpoint_dir, int64_t step);

// The largest complete step, with its meta. Throws std::runtime_error naming the directory when
// it does not exist or holds no complete step.
CompleteStep find_last_complete_step(const std::string& checkpoint_dir);
// nanochat's find_last_step: find_last_complete_step's step.
int64_t find_last_step(const std::string& checkpoint_dir);

// Before any file of `step` is written: creates `checkpoint_dir`, removes what killed saves left
// behind and, when `step` is saved again, its earlier files (the meta first). Throws
// std::runtime_error naming the directory.
void prepare_step(const std::string& checkpoint_dir, int64_t step);

// What the commit record says besides the writer's own meta keys.
struct CommitRecord {
  int64_t world_size = 1;    // the job's ranks
  int64_t optim_shards = 0;  // > 0: the sharded layout, one optimizer file per rank
  nlohmann::json files = nlohmann::json::object();  // name -> {"bytes", "crc32c"}

  // Records a file of the step as the atomic writer wrote it.
  void add(const std::string& name, const WrittenFile& file);
};

// Writes meta_{step:06d}.json: `meta_data` plus the commit record's keys (step, format_version,
// world_size, created (UTC), files and, when sharded, optim_shards), then fsyncs the directory.
// Once the meta is renamed into place the step is complete. A failure removes the step's files.
void commit_step(const std::string& checkpoint_dir, int64_t step, const nlohmann::json& meta_data,
                 const CommitRecord& record);

// Deletes every file of step `step`, its meta first; appends the names removed to `removed`
// when given. Throws std::runtime_error only when the directory cannot be fsync'ed after the meta
// is gone.
void remove_step(const std::string& dir, int64_t step, std::vector<std::string>* removed = nullptr);

// Removes temporary files and every file of a step that is not complete (see is_complete_step).
// Returns the names removed.
std::vector<std::string> remove_incomplete_steps(const std::string& checkpoint_dir);

// Deletes complete steps other than the newest `keep_last` (keep_last < 0 keeps all) and, when
// keep_every > 0, other than multiples of keep_every. The newest complete step is never deleted.
// Returns the steps deleted, ascending.
std::vector<int64_t> prune_checkpoints(const std::string& checkpoint_dir, int64_t keep_last,
                                       int64_t keep_every = 0);

}  // namespace nt
