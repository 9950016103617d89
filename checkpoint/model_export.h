// A checkpoint's model in and out of other tools' formats: Hugging Face's safetensors (the model
// config in __metadata__, as the format wants strings, with a config.json beside it) and
// torch.distributed.checkpoint directories (torchtitan's format, the model config in a
// model_config.json beside .metadata); each also back into a complete checkpoint step. And a
// step copied into nanochat's gathered layout, for torch.load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nt {

struct ExportedModel {
  int64_t step = -1;
  size_t tensors = 0;
  uint64_t bytes = 0;       // of the .safetensors file, or the DCP directory's .distcp file
  std::string config_path;  // config.json or model_config.json
};

// Writes the model of step `step` of `checkpoint_dir` (-1: find_last_step) to `out_path` as
// safetensors, tensors in the checkpoint's names (a leading "_orig_mod." stripped) and dtypes
// (bit for bit), with __metadata__
// {"format": "pt", "step": "<step>", and every GPTConfig key as a decimal string}, and writes
// config.json (the model config, integers) beside it. Reads nanotrain and nanochat checkpoints
// alike (load_checkpoint; checksums verified where the step records them). Throws
// std::runtime_error naming the file.
ExportedModel export_safetensors(const std::string& checkpoint_dir, int64_t step,
                                 const std::string& out_path);

// Reads a safetensors file written by export_safetensors (or any with the model config in
// __metadata__) and saves it as step `step` of `checkpoint_dir` (-1: the metadata's "step",
// else 0) with save_checkpoint: a complete step without optimizer state, which load_checkpoint
// and build_model read (build_model checks the tensor names and shapes). Holds the directory's
// lock meanwhile. Throws std::runtime_error naming the file and the missing or malformed config
// key or step, or when the step exists already (it is never replaced). Returns the step.
int64_t import_safetensors(const std::string& path, const std::string& checkpoint_dir,
                           int64_t step);

// Writes the model of step `step` of `checkpoint_dir` (-1: find_last_step) as a DCP checkpoint
// into `out_dir` (created; it must not hold a .metadata already): model_config.json, then
// save_dcp of the tensors under their checkpoint names ("_orig_mod." stripped, as for
// safetensors) and dtypes (bit for bit). Python loads it
// with torch.distributed.checkpoint.load(model.state_dict(), checkpoint_id=out_dir) at any
// world size. Throws std::runtime_error naming the file.
ExportedModel export_dcp(const std::string& checkpoint_dir, int64_t step,
                         const std::string& out_dir);

struct ImportedDcp {
  int64_t step = -1;
  size_t tensors = 0;
  std::vector<std::string> skipped;  // entries that are not model parameters (optimizer, ...)
};

// Reads the DCP directory `dcp_dir` (written by any world size) and saves its model as step
// `step` of `checkpoint_dir` (-1: 0) with save_checkpoint, holding the directory's lock. The
// model config comes from `model_config_path` (nanochat's model_config as JSON) or, when that
// is "", from `dcp_dir`/model_config.json. A key is a parameter once a leading "model." (a
// nested {"model": state_dict}) and "_orig_mod." are stripped; the other keys are skipped and
// listed. Throws std::runtime_error naming the file: no model config, a damaged or foreign
// directory, parameters missing or mis-shaped for the config (all listed), a step that exists.
ImportedDcp import_dcp(const std::string& dcp_dir, const std::string& checkpoint_dir, int64_t step,
                       const std::string& model_config_path);

// `ckpt export --layout gathered`: writes step `step` (-1: find_last_step) of `checkpoint_dir`
// into `out_dir` in the gathered layout (model_{step:06d}.pt, optim_{step:06d}.pt with the
// shards merged, meta), which Python's torch.load and nanochat read; a gathered step is copied
// as it is. Holds the lock of `out_dir` and never replaces a step there. Throws
// std::runtime_error naming the file. Returns the step.
int64_t export_gathered(const std::string& checkpoint_dir, int64_t step,
                        const std::string& out_dir);

}  // namespace nt
