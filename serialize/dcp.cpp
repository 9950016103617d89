// Reading and writing DCP directories. The metadata is parsed from the IValues the allow-listed
// unpickler builds (instances as {"__class__", fields}), and written with PickleWriter in the
// shape Python's pickler gives the same dataclasses, so Python's pickle.load rebuilds them.
#include "serialize/dcp.h"

#include <ATen/Functions.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <utility>

#include "serialize/atomic_file.h"
#include "serialize/pickle_reader.h"
#include "serialize/pickle_writer.h"
#include "serialize/torch_file.h"

namespace nt {
namespace {

constexpr const char* kMetadataModule = "torch.distributed.checkpoint.metadata";
constexpr const char* kShardFile = "__0_0.distcp";

const std::pair<at::ScalarType, const char*> kDtypeNames[] = {
    {at::kFloat, "float32"},     {at::kDouble, "float64"}, {at::kHalf, "float16"},
    {at::kBFloat16, "bfloat16"}, {at::kLong, "int64"},     {at::kInt, "int32"},
    {at::kShort, "int16"},       {at::kChar, "int8"},      {at::kByte, "uint8"},
    {at::kBool, "bool"}};

// Field access with errors that say where in the metadata they are.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw std::runtime_error(fmt::format("{}: {}: {}", path_, where, what));
  }

  // `value` as an instance of DCP's class `name`; its fields.
  c10::impl::GenericDict instance(const c10::IValue& value, const std::string& name,
                                  const std::string& where) const {
    if (value.isGenericDict()) {
      auto dict = value.toGenericDict();
      auto cls = dict.find(std::string("__class__"));
      const std::string suffix = "." + name;
      if (cls != dict.end() && cls->value().isString()) {
        const std::string& qualified = cls->value().toStringRef();
        if (qualified.size() > suffix.size() &&
            qualified.compare(qualified.size() - suffix.size(), suffix.size(), suffix) == 0)
          return dict;
      }
    }
    fail(where, fmt::format("expected a {}, found {}", name, describe(value)));
  }

  c10::IValue field(const c10::impl::GenericDict& fields, const std::string& key,
                    const std::string& where) const {
    auto it = fields.find(key);
    if (it == fields.end()) fail(where, fmt::format("lacks the field '{}'", key));
    return it->value();
  }

  int64_t integer(const c10::IValue& value, const std::string& where) const {
    if (!value.isInt() || value.toInt() < 0)
      fail(where, "expected a non-negative int, found " + describe(value));
    return value.toInt();
  }

  std::string string(const c10::IValue& value, const std::string& where) const {
    if (!value.isString()) fail(where, "expected a str, found " + describe(value));
    return value.toStringRef();
  }

  std::vector<int64_t> ints(const c10::IValue& value, const std::string& where) const {
    if (!value.isTuple()) fail(where, "expected a torch.Size, found " + describe(value));
    std::vector<int64_t> out;
    for (const auto& e : value.toTupleRef().elements()) out.push_back(integer(e, where));
    return out;
  }

  static std::string describe(const c10::IValue& value) {
    if (value.isGenericDict()) {
      auto dict = value.toGenericDict();
      auto cls = dict.find(std::string("__class__"));
      if (cls != dict.end() && cls->value().isString()) return "a " + cls->value().toStringRef();
    }
    return "a " + value.tagKind();
  }

 private:
  std::string path_;
};

at::ScalarType dtype_from_name(const Reader& r, const c10::IValue& value,
                               const std::string& where) {
  const std::string name = r.string(value, where);
  for (const auto& [dtype, short_name] : kDtypeNames)
    if (name == std::string("torch.") + short_name) return dtype;
  r.fail(where, "unsupported dtype " + name);
}

using ChunkKey = std::pair<std::string, std::vector<int64_t>>;  // fqn, chunk offsets

struct StorageInfo {
  std::string file;
  uint64_t offset = 0, length = 0;
};

std::map<ChunkKey, StorageInfo> read_storage_data(const Reader& r, const c10::IValue& value) {
  if (!value.isList() && !(value.isGenericDict() && value.toGenericDict().empty()))
    r.fail("storage_data",
           "expected a dict of MetadataIndex to _StorageInfo, found " + Reader::describe(value));
  std::map<ChunkKey, StorageInfo> out;
  if (value.isGenericDict() && value.toGenericDict().empty()) return out;
  for (const c10::IValue& pair : value.toListRef()) {
    if (!pair.isTuple() || pair.toTupleRef().elements().size() != 2)
      r.fail("storage_data", "expected a dict of MetadataIndex to _StorageInfo, found a list");
    const auto& kv = pair.toTupleRef().elements();
    const auto index = r.instance(kv[0], "MetadataIndex", "storage_data");
    const std::string fqn = r.string(r.field(index, "fqn", "MetadataIndex"), "MetadataIndex.fqn");
    const std::string where = fmt::format("storage_data['{}']", fqn);
    // A bytes entry's index has no offset (None, or no field at all).
    auto offsets = index.find(std::string("offset"));
    ChunkKey key{fqn, offsets == index.end() || offsets->value().isNone()
                          ? std::vector<int64_t>{}
                          : r.ints(offsets->value(), where + ".offset")};
    const auto info = r.instance(kv[1], "_StorageInfo", where);
    StorageInfo storage;
    storage.file = r.string(r.field(info, "relative_path", where), where + ".relative_path");
    storage.offset = r.integer(r.field(info, "offset", where), where + ".offset");
    storage.length = r.integer(r.field(info, "length", where), where + ".length");
    if (storage.file.empty() || storage.file.find('/') != std::string::npos ||
        storage.file == "." || storage.file == "..")
      r.fail(where, fmt::format("relative_path '{}' is not a file of the directory", storage.file));
    if (auto t = info.find(std::string("transform_descriptors")); t != info.end()) {
      const c10::IValue& transforms = t->value();
      if (!transforms.isNone() && !(transforms.isList() && transforms.toListRef().empty()))
        r.fail(where,
               "the chunk is stored transformed (compressed?); only plain torch.save "
               "chunks are read");
    }
    out[key] = storage;
  }
  return out;
}

DcpEntry read_entry(const Reader& r, const std::string& fqn, const c10::IValue& value,
                    const std::map<ChunkKey, StorageInfo>& storage) {
  DcpEntry entry;
  entry.fqn = fqn;
  const std::string where = fmt::format("state_dict_metadata['{}']", fqn);
  auto locate = [&](DcpChunk& chunk) {
    auto it = storage.find({fqn, chunk.offsets});
    if (it == storage.end())
      r.fail(where, fmt::format("no storage_data entry for the chunk at offsets ({})",
                                fmt::join(chunk.offsets, ", ")));
    chunk.file = it->second.file;
    chunk.offset = it->second.offset;
    chunk.length = it->second.length;
  };
  if (Reader::describe(value) == "a torch.distributed.checkpoint.metadata.BytesStorageMetadata") {
    entry.is_tensor = false;
    entry.chunks.emplace_back();
    locate(entry.chunks.back());
    return entry;
  }
  const auto fields = r.instance(value, "TensorStorageMetadata", where);
  const auto properties =
      r.instance(r.field(fields, "properties", where), "TensorProperties", where + ".properties");
  const c10::IValue state = r.field(properties, "__state__", where + ".properties");
  if (!state.isTuple() || state.toTupleRef().elements().empty())
    r.fail(where + ".properties", "expected the state (dtype, layout, ...)");
  entry.dtype = dtype_from_name(r, state.toTupleRef().elements()[0], where + ".properties");
  entry.size = r.ints(r.field(fields, "size", where), where + ".size");
  const c10::IValue chunks = r.field(fields, "chunks", where);
  if (!chunks.isList()) r.fail(where + ".chunks", "expected a list");
  for (const c10::IValue& c : chunks.toListRef()) {
    const std::string at = fmt::format("{}.chunks[{}]", where, entry.chunks.size());
    const auto chunk_fields = r.instance(c, "ChunkStorageMetadata", at);
    DcpChunk chunk;
    chunk.offsets = r.ints(r.field(chunk_fields, "offsets", at), at + ".offsets");
    chunk.sizes = r.ints(r.field(chunk_fields, "sizes", at), at + ".sizes");
    if (chunk.offsets.size() != entry.size.size() || chunk.sizes.size() != entry.size.size())
      r.fail(at, fmt::format("offsets ({}) and sizes ({}) for a tensor of size ({})",
                             fmt::join(chunk.offsets, ", "), fmt::join(chunk.sizes, ", "),
                             fmt::join(entry.size, ", ")));
    for (size_t d = 0; d < entry.size.size(); ++d)
      if (chunk.offsets[d] > entry.size[d] || chunk.sizes[d] > entry.size[d] - chunk.offsets[d])
        r.fail(at, fmt::format("reaches past dimension {} of size {}", d, entry.size[d]));
    locate(chunk);
    entry.chunks.push_back(std::move(chunk));
  }
  return entry;
}

// PickleWriter helpers in the shapes Python's pickler gives DCP's dataclasses.
void write_size(PickleWriter& w, const std::vector<int64_t>& values) {
  w.global("torch", "Size");
  w.mark();  // REDUCE's arguments: the one tuple of sizes
  w.mark();
  for (int64_t v : values) w.integer(v);
  w.tuple();
  w.tuple();
  w.reduce();
}

}  // namespace

DcpMetadata read_dcp_metadata(const std::string& dir) {
  const std::string path = dir + "/.metadata";
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(fmt::format(
        "'{}' is not a torch.distributed.checkpoint directory: it has no .metadata", dir));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_dcp_metadata(bytes, path);
}

DcpMetadata parse_dcp_metadata(const std::string& bytes, const std::string& path) {
  DcpMetadata metadata;
  metadata.path = path;
  const StorageLoader no_storages = [&](const std::string& key, at::ScalarType,
                                        int64_t) -> at::Tensor {
    throw std::runtime_error(fmt::format(
        "{}: holds a tensor storage ('{}'); DCP metadata holds none", metadata.path, key));
  };
  const c10::IValue root =
      unpickle(bytes.data(), bytes.size(), no_storages, metadata.path, PickleGlobals::kDcpMetadata);
  const Reader r(metadata.path);
  const auto fields = r.instance(root, "Metadata", "the top level");
  const auto storage = read_storage_data(r, r.field(fields, "storage_data", "Metadata"));
  const c10::IValue entries = r.field(fields, "state_dict_metadata", "Metadata");
  if (!entries.isGenericDict()) r.fail("state_dict_metadata", "expected a dict");
  for (const auto& item : entries.toGenericDict())
    metadata.entries.push_back(
        read_entry(r, r.string(item.key(), "state_dict_metadata key"), item.value(), storage));
  return metadata;
}

at::Tensor load_dcp_tensor(const std::string& dir, const DcpEntry& entry) {
  if (!entry.is_tensor)
    throw std::logic_error("load_dcp_tensor: '" + entry.fqn + "' is not a tensor");
  at::Tensor whole = at::empty(entry.size, at::TensorOptions().dtype(entry.dtype));
  at::Tensor covered = at::zeros(entry.size, at::TensorOptions().dtype(at::kByte));
  for (const DcpChunk& chunk : entry.chunks) {
    const std::string file = dir + "/" + chunk.file;
    const c10::IValue value = load_torch_file(file, at::kCPU, chunk.offset, chunk.length);
    if (!value.isTensor() || value.toTensor().scalar_type() != entry.dtype ||
        value.toTensor().sizes() != c10::IntArrayRef(chunk.sizes))
      throw std::runtime_error(fmt::format(
          "{} bytes [{}, {}): expected the chunk of '{}' ({} of size ({})), found {}", file,
          chunk.offset, chunk.offset + chunk.length, entry.fqn, c10::toString(entry.dtype),
          fmt::join(chunk.sizes, ", "),
          value.isTensor()
              ? fmt::format("{} of size {}", c10::toString(value.toTensor().scalar_type()),
                            c10::str(value.toTensor().sizes()))
              : "a " + value.tagKind()));
    at::Tensor dst = whole, seen = covered;
    for (size_t d = 0; d < chunk.sizes.size(); ++d) {
      dst = dst.narrow(static_cast<int64_t>(d), chunk.offsets[d], chunk.sizes[d]);
      seen = seen.narrow(static_cast<int64_t>(d), chunk.offsets[d], chunk.sizes[d]);
    }
    dst.copy_(value.toTensor());
    seen.add_(1);
  }
  if (!covered.eq(1).all().item<bool>())
    throw std::runtime_error(
        fmt::format("{}/.metadata: the {} chunks of '{}' do not cover its size ({}) exactly once",
                    dir, entry.chunks.size(), entry.fqn, fmt::join(entry.size, ", ")));
  return whole;
}

uint64_t save_dcp(const std::string& dir, const NamedTensors& tensors) {
  std::vector<StorageInfo> stored;
  const std::string shard_path = dir + "/" + kShardFile;
  AtomicFileWriter shard(shard_path);
  uint64_t written = 0;
  for (const auto& [name, tensor] : tensors) {
    // A view would carry its whole storage into the archive: write the chunk's bytes alone.
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    if (t.storage_offset() != 0 || t.storage().nbytes() != t.nbytes()) t = t.clone();
    const uint64_t begin = written;
    write_torch_archive(
        t,
        [&](const void* data, size_t size) {
          shard.write(data, size);
          written += size;
        },
        shard_path);
    stored.push_back({kShardFile, begin, written - begin});
  }
  shard.commit();

  PickleWriter w;
  w.global(kMetadataModule, "Metadata");
  w.empty_tuple();
  w.new_object();
  w.empty_dict();
  w.mark();
  w.string("state_dict_metadata");
  w.empty_dict();
  w.mark();
  for (const auto& [name, tensor] : tensors) {
    const std::vector<int64_t> size = tensor.sizes().vec();
    const char* dtype_name = nullptr;
    for (const auto& [dtype, short_name] : kDtypeNames)
      if (dtype == tensor.scalar_type()) dtype_name = short_name;
    if (!dtype_name)
      throw std::invalid_argument(
          fmt::format("save_dcp: '{}' has dtype {}, not one DCP "
                      "checkpoints of nanotrain hold",
                      name, c10::toString(tensor.scalar_type())));
    w.string(name);
    w.global(kMetadataModule, "TensorStorageMetadata");
    w.empty_tuple();
    w.new_object();
    w.empty_dict();
    w.mark();
    w.string("properties");
    w.global(kMetadataModule, "TensorProperties");  // state: its __getstate__ tuple
    w.empty_tuple();
    w.new_object();
    w.mark();
    w.global("torch", dtype_name);
    w.global("torch.serialization", "_get_layout");
    w.mark();
    w.string("torch.strided");
    w.tuple();
    w.reduce();
    w.boolean(false);                                   // requires_grad
    w.global(kMetadataModule, "_MEM_FORMAT_ENCODING");  // TORCH_CONTIGUOUS_FORMAT
    w.mark();
    w.integer(0);
    w.tuple();
    w.reduce();
    w.boolean(false);  // pin_memory
    w.tuple();
    w.build();
    w.string("size");
    write_size(w, size);
    w.string("chunks");
    w.empty_list();
    w.mark();
    w.global(kMetadataModule, "ChunkStorageMetadata");
    w.empty_tuple();
    w.new_object();
    w.empty_dict();
    w.mark();
    w.string("offsets");
    write_size(w, std::vector<int64_t>(size.size(), 0));
    w.string("sizes");
    write_size(w, size);
    w.set_items();
    w.build();
    w.appends();
    w.set_items();
    w.build();
  }
  w.set_items();
  w.string("planner_data");
  w.empty_dict();
  w.mark();
  for (const auto& item : tensors) {
    w.string(item.first);
    w.mark();
    w.string(item.first);
    w.tuple();
  }
  w.set_items();
  w.string("storage_data");
  w.empty_dict();
  w.mark();
  for (size_t i = 0; i < tensors.size(); ++i) {
    w.global(kMetadataModule, "MetadataIndex");
    w.empty_tuple();
    w.new_object();
    w.empty_dict();
    w.mark();
    w.string("fqn");
    w.string(tensors[i].first);
    w.string("offset");
    write_size(w, std::vector<int64_t>(tensors[i].second.dim(), 0));
    w.string("index");
    w.integer(0);
    w.set_items();
    w.build();
    w.global("torch.distributed.checkpoint.filesystem", "_StorageInfo");
    w.empty_tuple();
    w.new_object();
    w.empty_dict();
    w.mark();
    w.string("relative_path");
    w.string(stored[i].file);
    w.string("offset");
    w.integer(static_cast<int64_t>(stored[i].offset));
    w.string("length");
    w.integer(static_cast<int64_t>(stored[i].length));
    w.set_items();
    w.build();
  }
  w.set_items();
  w.string("storage_meta");
  w.none();
  w.string("version");
  w.string("1.0.0");
  w.set_items();
  w.build();
  // Written last, as DCP's finish() does: a directory without it is no checkpoint.
  write_file_atomically(dir + "/.metadata", w.finish());
  return written;
}

}  // namespace nt
