// Tensor containers on disk in torch.save's zip format, which Python's torch.load reads:
// dicts, lists, tuples, numbers, strings and tensors. Writes stream straight into an atomic
// file (no in-memory copy of the archive); reads load one record at a time.
#pragma once

#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include <string>

#include "checkpoint/atomic_file.h"

namespace nt {

// Writes `value` to `path` atomically. Throws std::runtime_error naming the path on failure
// (the temporary file is removed).
WrittenFile save_torch_file(const c10::IValue& value, const std::string& path);

// Reads a file written by save_torch_file (or LibTorch's torch::pickle_save), tensors mapped to
// `device`. Throws std::runtime_error naming the path and what failed.
c10::IValue load_torch_file(const std::string& path, c10::Device device);

}  // namespace nt
