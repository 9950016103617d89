// Tensor containers on disk in torch.save's zip format, shared with Python's torch.save and
// torch.load: dicts, lists, tuples, numbers, strings and tensors. Writes stream straight into an
// atomic file (no in-memory copy of the archive); reads load one record at a time.
#pragma once

#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <string>

#include "serialize/atomic_file.h"

namespace nt {

// Writes `value` to `path` atomically. Throws std::runtime_error naming the path on failure
// (the temporary file is removed).
WrittenFile save_torch_file(const c10::IValue& value, const std::string& path);

// The bytes of `value` as a torch.save archive, handed to `write` in order (a .distcp file
// appends several). An exception from `write` is rethrown once the archive is abandoned;
// std::runtime_error naming `where` when LibTorch cannot serialize `value`.
void write_torch_archive(const c10::IValue& value,
                         const std::function<void(const void*, size_t)>& write,
                         const std::string& where);

// Reads a torch.save file, written by Python's torch.save (protocol 2, as torch writes by
// default) or by save_torch_file, with the reader of pickle_reader.h: containers, numbers,
// strings and tensors only, never code. Tensors are mapped to `device`; views of one storage
// share it. Throws std::runtime_error naming the path and what failed (a damaged archive, a
// missing or mis-sized storage record, a refused global, malformed pickle bytes).
c10::IValue load_torch_file(const std::string& path, c10::Device device);

// load_torch_file of the archive in bytes [offset, offset + length) of `path`; a region beyond
// the file's end is an error naming the path and both sizes.
c10::IValue load_torch_file(const std::string& path, c10::Device device, uint64_t offset,
                            uint64_t length);

}  // namespace nt
