// safetensors reading and writing. Every number in a header is checked before it sizes an
// allocation or a read, since the header comes from outside; data is assumed little-endian like
// the host (x86-64, aarch64).
#include "serialize/safetensors.h"

#include <ATen/Functions.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>
#include <tuple>

#include "runtime/config_io.h"

namespace nt {
namespace {

constexpr const char* kMetadataKey = "__metadata__";

const std::pair<const char*, at::ScalarType> kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool}};

std::string dtype_names() {
  std::string names;
  for (const auto& [name, type] : kDtypes) names += std::string(names.empty() ? "" : ", ") + name;
  return names;
}

const char* dtype_name(at::ScalarType type, const std::string& tensor) {
  for (const auto& [name, t] : kDtypes)
    if (t == type) return name;
  throw std::invalid_argument(fmt::format("safetensors: tensor '{}' is {}, expected one of {}",
                                          tensor, c10::toString(type), dtype_names()));
}

std::runtime_error header_error(const std::string& where, const std::string& what) {
  return std::runtime_error(fmt::format("{}: safetensors header: {}", where, what));
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& info,
                             const std::string& where) {
  const std::string what = "tensor '" + name + "'";
  if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") ||
      !info.contains("data_offsets"))
    throw header_error(where, what + ": expected an object with dtype, shape and data_offsets");
  SafetensorsEntry entry;
  entry.name = name;
  const auto& dtype = info["dtype"];
  auto known = std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](const auto& d) {
    return dtype.is_string() && dtype.get<std::string>() == d.first;
  });
  if (known == std::end(kDtypes))
    throw header_error(where, fmt::format("{}: unknown dtype {} (expected one of {})", what,
                                          json_brief(dtype), dtype_names()));
  entry.dtype = known->second;
  const auto& shape = info["shape"];
  if (!shape.is_array()) throw header_error(where, what + ": shape: expected an array");
  uint64_t bytes = c10::elementSize(entry.dtype);
  // The product of the non-zero dimensions too: a zero elsewhere makes `bytes` 0 but leaves
  // LibTorch to compute strides from the rest.
  uint64_t extent = c10::elementSize(entry.dtype);
  for (const auto& dim : shape) {
    if (!dim.is_number_unsigned() || dim.get<uint64_t>() > std::numeric_limits<int64_t>::max() ||
        __builtin_mul_overflow(bytes, dim.get<uint64_t>(), &bytes) ||
        __builtin_mul_overflow(extent, std::max<uint64_t>(dim.get<uint64_t>(), 1), &extent) ||
        extent > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw header_error(where, fmt::format("{}: shape {}: expected non-negative integers of a "
                                            "representable size",
                                            what, json_brief(shape)));
    entry.shape.push_back(dim.get<int64_t>());
  }
  const auto& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned() || offsets[0].get<uint64_t>() > offsets[1].get<uint64_t>())
    throw header_error(where, fmt::format("{}: data_offsets {}: expected [begin, end] with "
                                          "0 <= begin <= end",
                                          what, json_brief(offsets)));
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.end - entry.begin != bytes)
    throw header_error(where, fmt::format("{}: {} {} needs {} bytes, data_offsets {} hold {}", what,
                                          dtype.get<std::string>(), json_brief(shape), bytes,
                                          json_brief(offsets), entry.end - entry.begin));
  return entry;
}

}  // namespace

WrittenFile save_safetensors(const std::string& path, const NamedTensors& tensors,
                             const SafetensorsMetadata& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMetadataKey || !names.insert(name).second)
      throw std::invalid_argument(
          fmt::format("safetensors: tensor name '{}' is repeated or reserved", name));
    const uint64_t bytes = tensor.numel() * tensor.element_size();
    header[name] = {{"dtype", dtype_name(tensor.scalar_type(), name)},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');

  AtomicFileWriter file(path);
  uint64_t length = text.size();
  unsigned char length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(length >> (8 * i));
  file.write(length_bytes, sizeof(length_bytes));
  file.write(text.data(), text.size());
  for (const auto& [name, tensor] : tensors) {
    const at::Tensor data = tensor.detach().to(at::kCPU).contiguous();  // one tensor at a time
    file.write(data.data_ptr(), data.numel() * data.element_size());
  }
  return file.commit();
}

SafetensorsHeader parse_safetensors_header(const std::string& json_text, uint64_t data_bytes,
                                           const std::string& where) {
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw header_error(where, std::string("invalid JSON: ") + e.what());
  }
  if (!header.is_object()) throw header_error(where, "expected a JSON object");
  SafetensorsHeader out;
  for (const auto& [name, info] : header.items()) {
    if (name != kMetadataKey) {
      out.tensors.push_back(parse_entry(name, info, where));
      continue;
    }
    if (!info.is_object()) throw header_error(where, "__metadata__: expected an object");
    for (const auto& [key, value] : info.items()) {
      if (!value.is_string())
        throw header_error(where, fmt::format("__metadata__.{}: expected a string, found {}", key,
                                              json_brief(value)));
      out.metadata[key] = value.get<std::string>();
    }
  }
  std::sort(out.tensors.begin(), out.tensors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  uint64_t next = 0;  // where the next tensor must start for the data to be tiled
  std::string previous = "the data begins";
  for (const auto& t : out.tensors) {
    if (t.begin != next)
      throw header_error(
          where, fmt::format("tensor '{}' starts at byte {}, not at byte {} where {} "
                             "({})",
                             t.name, t.begin, next, previous, t.begin < next ? "overlap" : "gap"));
    if (t.end > data_bytes)
      throw header_error(
          where, fmt::format("tensor '{}' ends at byte {}, past the {} bytes of data", t.name,
                             t.end, data_bytes));
    next = t.end;
    previous = "tensor '" + t.name + "' ends";
  }
  if (next != data_bytes)
    throw header_error(
        where, fmt::format("{} bytes of data, but the tensors end at byte {}", data_bytes, next));
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  const auto file_size = static_cast<uint64_t>(in.tellg());
  unsigned char length_bytes[8];
  in.seekg(0);
  if (file_size < 8 || !in.read(reinterpret_cast<char*>(length_bytes), 8))
    throw std::runtime_error(fmt::format(
        "{}: {} bytes, shorter than a safetensors header length (8 bytes)", path, file_size));
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= static_cast<uint64_t>(length_bytes[i]) << (8 * i);
  if (length > file_size - 8)
    throw std::runtime_error(
        fmt::format("{}: header length {} reaches past the end of the file "
                    "({} bytes)",
                    path, length, file_size));
  std::string text(length, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(length)))
    throw std::runtime_error(fmt::format("{}: cannot read the header", path));
  const uint64_t data_start = 8 + length;
  SafetensorsHeader header = parse_safetensors_header(text, file_size - data_start, path);

  SafetensorsFile file;
  file.metadata = std::move(header.metadata);
  for (const auto& entry : header.tensors) {
    at::Tensor t = at::empty(entry.shape, at::TensorOptions().dtype(entry.dtype));
    in.seekg(static_cast<std::streamoff>(data_start + entry.begin));
    if (!in.read(static_cast<char*>(t.data_ptr()),
                 static_cast<std::streamsize>(entry.end - entry.begin)))
      throw std::runtime_error(fmt::format("{}: cannot read tensor '{}'", path, entry.name));
    file.tensors.emplace_back(entry.name, std::move(t));
  }
  return file;
}

}  // namespace nt
