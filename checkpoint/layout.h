// Where checkpoints live and which steps are complete: nanochat's file names
// (model_{step:06d}.pt, optim_{step:06d}.pt or per rank optim_{step:06d}_rank{r}.pt,
// meta_{step:06d}.json), the per-source folders under the base directory, find_last_step and
// find_largest_model.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace nt {

std::string model_file_name(int64_t step);  // "model_000042.pt"
std::string optim_file_name(int64_t step);  // "optim_000042.pt"
std::string meta_file_name(int64_t step);   // "meta_000042.json"
// nanochat's optimizer file of one rank: "optim_000042_rank3.pt".
std::string rank_optim_file_name(int64_t step, int64_t rank);
// All of them, for messages: "optim_000042_rank*.pt".
std::string rank_optim_file_pattern(int64_t step);

// The ranks with a per-rank optimizer file of `step` in `checkpoint_dir`, ascending.
std::vector<int64_t> list_rank_optim_files(const std::string& checkpoint_dir, int64_t step);

// The step in a file name of the form <prefix>_<digits><suffix> where the digits are exactly
// what {step:06d} writes (so "model_0000001.pt" and "model_-1.pt" are not steps); else -1.
int64_t parse_step(const std::string& file_name, const std::string& prefix,
                   const std::string& suffix);

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

// The model tag to load from a source's directory: the largest d<N> (a leading "d" and digits),
// else the most recently modified subdirectory. Throws when there is none.
std::string find_largest_model(const std::string& checkpoints_dir);

// base -> base_checkpoints, mid -> mid_checkpoints, sft -> chatsft_checkpoints,
// rl -> chatrl_checkpoints. Throws std::invalid_argument listing the valid sources.
std::string source_directory(const std::string& source);

}  // namespace nt
