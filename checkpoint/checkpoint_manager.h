// nanochat's checkpoint_manager in C++: save_checkpoint, load_checkpoint, build_model,
// load_model_from_dir and load_model, with writes that are atomic and steps that count only
// once complete. Files: model_{step:06d}.pt (dict name -> tensor), optim_{step:06d}.pt (list
// [AdamW state dict, Muon state dict]), meta_{step:06d}.json (written last: the commit record).
// Directories written by Python's nanochat load as well (see load_checkpoint).
#pragma once

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/tokenizer.h"
#include "model/gpt.h"

namespace nt {

using ModelData = c10::Dict<std::string, at::Tensor>;

// The model's parameters by name, detached (aliases, not copies). Rotary buffers are not saved.
ModelData model_state_dict(const GPT& model);

// Throws std::logic_error "rank R: ..." unless `rank` is 0.
void require_rank_zero(const char* operation, int rank);

// Saves one step. Only rank 0 writes: `rank` is the caller's (nanochat's argument), and another
// rank gets std::logic_error naming it. (nanochat's save_checkpoint also writes an optimizer file
// on every rank; here the optimizer state is gathered to rank 0 first, and the sharded layout,
// checkpoint/sharded_checkpoint.h, is where every rank writes.) `optimizer_data`, when given, is
// the list of the two optimizer state dicts. `meta_data` is nanochat's meta (model_config,
// user_config, ...); the commit record (step, format_version, world_size: the job's ranks,
// created (UTC), files) is added. Leftovers of an earlier killed save are removed first; an
// existing meta of the same step is removed before any file is replaced. Throws std::runtime_error
// naming the file on I/O errors (disk full included); the step is then not complete and earlier
// steps are untouched.
void save_checkpoint(const std::string& checkpoint_dir, int64_t step, const ModelData& model_data,
                     const std::optional<c10::IValue>& optimizer_data,
                     const nlohmann::json& meta_data, int rank = 0, int world_size = 1);

struct CheckpointData {
  ModelData model_data;
  // With load_optimizer: the list [AdamW, Muon] of a gathered step, or every rank's list in
  // optimizer_shards instead, for a sharded step (checkpoint/sharded_checkpoint.h) and for
  // nanochat's distributed optimizers (optim/nanochat_layout.h); Optimizers merges either.
  std::optional<c10::IValue> optimizer_data;
  std::vector<c10::IValue> optimizer_shards;
  nlohmann::json meta_data;
};

// Loads a complete step, tensors mapped to `device`. Sizes always and, when `verify`, checksums
// of every file are checked first. A step nanochat wrote (its meta has no commit record) is read
// unverified; its optimizer state comes from optim_{step:06d}.pt or, failing that, from the files
// optim_{step:06d}_rank{r}.pt of ranks 0 to W-1 (a single process's whole state, or a distributed
// run's shards). Throws std::runtime_error naming the file and the problem.
CheckpointData load_checkpoint(const std::string& checkpoint_dir, int64_t step,
                               torch::Device device, bool load_optimizer = false,
                               bool verify = true);
// The same, with the step's meta already read (as read_meta returns it), so that it is parsed once.
CheckpointData load_checkpoint(const std::string& checkpoint_dir, int64_t step,
                               nlohmann::json meta_data, torch::Device device, bool load_optimizer,
                               bool verify = true);

// A saved tensor's parameter name: torch.compile's "_orig_mod." (that exact prefix) stripped.
std::string parameter_name(const std::string& saved_name);

using ParameterShapes = std::map<std::string, std::vector<int64_t>>;

// Every parameter's name and shape.
ParameterShapes parameter_shapes(const GPT& model);

// Makes `data` the parameters of `model`, as fp32 on `device`: a leading "_orig_mod." (that
// exact prefix) is stripped from names; strict against `shapes` (the parameters' shapes, taken
// before any were released): one error naming `where` lists missing, unexpected and mis-shaped
// names, and then nothing is assigned. Parameters keep their identity, so optimizers built on
// them stay valid.
void load_model_data(GPT& model, ModelData data, const ParameterShapes& shapes,
                     torch::Device device, const std::string& where);

struct BuiltModel {
  GPT model{nullptr};
  std::unique_ptr<Tokenizer> tokenizer;
  nlohmann::json meta_data;
};

// A GPT from a checkpoint: config from meta.model_config; a leading "_orig_mod." stripped from
// names (that exact prefix); weights become fp32 masters (bf16 files included) and
// `compute_dtype` sets the matmul precision; strict: one error lists missing, unexpected and
// mis-shaped names. phase "train" or "eval" sets the mode, anything else throws. The tokenizer's
// vocab size must equal model_config.vocab_size. Holds at most one full copy of the weights
// (the loaded tensors become the parameters).
BuiltModel build_model(const std::string& checkpoint_dir, int64_t step, torch::Device device,
                       const std::string& phase, torch::ScalarType compute_dtype = torch::kFloat32);
// build_model without the tokenizer (left null), for what needs none: scoring token ids.
BuiltModel build_model_without_tokenizer(const std::string& checkpoint_dir, int64_t step,
                                         torch::Device device, const std::string& phase,
                                         torch::ScalarType compute_dtype = torch::kFloat32);

// The model tag to load from a source's directory: the largest d<N> (a leading "d" and digits),
// else the most recently modified subdirectory. Throws when there is none.
std::string find_largest_model(const std::string& checkpoints_dir);

// base -> base_checkpoints, mid -> mid_checkpoints, sft -> chatsft_checkpoints,
// rl -> chatrl_checkpoints. Throws std::invalid_argument listing the valid sources.
std::string source_directory(const std::string& source);

// build_model with the tag defaulting to find_largest_model and the step to find_last_step
// (pass "" and -1).
BuiltModel load_model_from_dir(const std::string& checkpoints_dir, torch::Device device,
                               const std::string& phase, const std::string& model_tag = "",
                               int64_t step = -1);

// load_model_from_dir on <base_dir>/<source_directory(source)>.
BuiltModel load_model(const std::string& source, torch::Device device, const std::string& phase,
                      const std::string& model_tag = "", int64_t step = -1);

}  // namespace nt
