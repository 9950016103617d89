// A checkpoint's model in and out of the Hugging Face world: a step's weights as
// model.safetensors (the model config in __metadata__, as the format wants strings) with a
// config.json beside it, and such a file back into a complete checkpoint step.
#pragma once

#include <cstdint>
#include <string>

namespace nt {

struct ExportedModel {
  int64_t step = -1;
  size_t tensors = 0;
  uint64_t bytes = 0;       // of the .safetensors file
  std::string config_path;  // config.json, in the directory of the .safetensors file
};

// Writes the model of step `step` of `checkpoint_dir` (-1: find_last_step) to `out_path` as
// safetensors, tensors in the checkpoint's names and dtypes (bit for bit), with __metadata__
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

}  // namespace nt
