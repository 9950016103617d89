// The safetensors format, as Hugging Face's tools read and write it: an 8-byte little-endian
// header length N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {string: string}}, then the tensors' raw little-endian bytes, the offsets
// counted from the end of the header. Tensors tile the data section: no gaps, no overlaps.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "serialize/atomic_file.h"

namespace nt {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
using SafetensorsMetadata = std::map<std::string, std::string>;

// Writes `tensors` in their order (from any device, contiguous or not) and `metadata` to `path`
// atomically; the header is padded with spaces so the data starts 8-byte aligned. dtypes: F64,
// F32, F16, BF16, I64, I32, I16, I8, U8, BOOL. Throws std::invalid_argument naming the tensor
// for another dtype, a repeated name or the name "__metadata__"; std::runtime_error naming the
// path on I/O errors.
WrittenFile save_safetensors(const std::string& path, const NamedTensors& tensors,
                             const SafetensorsMetadata& metadata);

struct SafetensorsEntry {
  std::string name;
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range [begin, end) in the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in the order of their data
  SafetensorsMetadata metadata;
};

// Parses and checks a header's JSON text for a data section of `data_bytes` bytes: an object
// whose entries have a known dtype, a shape of non-negative integers whose byte size is
// end - begin, and offsets inside the data section that tile it exactly; "__metadata__", if
// present, maps strings to strings. Throws std::runtime_error "<where>: ..." naming the tensor,
// what was expected and what was found. Reads nothing but its arguments (a fuzzing entry point).
SafetensorsHeader parse_safetensors_header(const std::string& json_text, uint64_t data_bytes,
                                           const std::string& where);

struct SafetensorsFile {
  NamedTensors tensors;  // CPU tensors, in the order of their data
  SafetensorsMetadata metadata;
};

// Reads a whole file: the header length is checked against the file's size before anything is
// allocated, then parse_safetensors_header, then each tensor's bytes straight into its storage.
// Throws std::runtime_error naming the path and the problem.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace nt
