// torch.distributed.checkpoint's directory format (FileSystemWriter, PyTorch 2.x): `.metadata`,
// a pickle written last, gives every key's dtype, global size and chunks, and where each chunk's
// bytes lie; `__<rank>_<n>.distcp` files hold the chunks, each a torch.save archive at a
// recorded offset and length. Reads what any world size wrote; writes the layout of one rank,
// which Python's dcp.load reshards to any world size.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "serialize/safetensors.h"

namespace nt {

struct DcpChunk {
  std::vector<int64_t> offsets;  // where the chunk starts in the whole tensor, per dimension
  std::vector<int64_t> sizes;
  std::string file;     // a file of the directory ("__1_0.distcp")
  uint64_t offset = 0;  // byte range [offset, offset + length) of its archive
  uint64_t length = 0;
};

struct DcpEntry {
  std::string fqn;        // the state dict key, flattened ("model.lm_head.weight")
  bool is_tensor = true;  // false: a pickled Python object (BytesStorageMetadata)
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> size;     // the whole tensor's
  std::vector<DcpChunk> chunks;  // a tensor's, covering it exactly; a bytes entry has one
};

struct DcpMetadata {
  std::string path;               // of the .metadata file
  std::vector<DcpEntry> entries;  // in the file's order
};

// Reads and checks `dir`/.metadata with the DCP allow-list of pickle_reader.h: every chunk
// inside its tensor, with a storage record naming a plain file of `dir`; dtypes of
// safetensors.h's list. Throws std::runtime_error naming the file and, where it applies, the
// key and what was expected: no .metadata (not a DCP directory), a refused class, a malformed
// field, a chunk without storage, a transformed (e.g. compressed) chunk.
DcpMetadata read_dcp_metadata(const std::string& dir);

// read_dcp_metadata's parsing of the bytes of a .metadata file at `path` (for messages); reads
// nothing else (a fuzzing entry point).
DcpMetadata parse_dcp_metadata(const std::string& bytes, const std::string& path);

// The whole tensor of `entry` on the CPU, assembled from its chunks. Throws std::runtime_error
// naming the .distcp file when one is missing or shorter than recorded, an archive does not hold
// a tensor of the chunk's dtype and sizes, or the chunks do not cover the tensor exactly once.
at::Tensor load_dcp_tensor(const std::string& dir, const DcpEntry& entry);

// Writes `tensors` as a DCP checkpoint of one rank into the existing directory `dir`: each tensor
// one chunk in __0_0.distcp, then .metadata (keys as given, planner_data {key: (key,)}).
// Returns the bytes of __0_0.distcp. Throws std::runtime_error naming the file on I/O errors.
uint64_t save_dcp(const std::string& dir, const NamedTensors& tensors);

}  // namespace nt
