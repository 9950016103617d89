// A pickle interpreter for what torch.save writes (Python's torch 1.x/2.x and nanotrain's own
// writer): containers, numbers, strings and tensors rebuilt from storages. It never runs code:
// a GLOBAL outside a short allow-list is refused, and every read of the input is bounds-checked,
// so malformed bytes give an error, never a crash (this is the entry point fuzz targets call).
#pragma once

#include <ATen/core/ivalue.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace nt {

// Which globals a pickle may name. kTorchSave: what torch.save writes (below). kDcpMetadata:
// what torch.distributed.checkpoint pickles into a checkpoint's .metadata file, the classes
// Metadata, TensorStorageMetadata, ChunkStorageMetadata, TensorProperties, BytesStorageMetadata,
// MetadataIndex, StorageMeta and _MEM_FORMAT_ENCODING of torch.distributed.checkpoint.metadata
// and _StorageInfo of torch.distributed.checkpoint.filesystem, with torch.Size, the torch dtypes
// and layouts, torch.serialization._get_layout and pathlib's PosixPath; no tensors.
enum class PickleGlobals { kTorchSave, kDcpMetadata };

// Supplies storage `key` of the archive (the record data/<key>) as a contiguous 1-D tensor of
// `numel` elements of `dtype`. It is called once per key; tensors that view the same storage then
// share it. The loader must check `numel` against what it really holds (unpickle only checks that
// numel is non-negative and that its byte size fits int64), and should throw std::runtime_error
// naming the record when it cannot supply it.
using StorageLoader =
    std::function<at::Tensor(const std::string& key, at::ScalarType dtype, int64_t numel)>;

// Interprets `size` bytes of pickle at `data` and returns the value it builds:
//   dict and collections.OrderedDict -> GenericDict (keys str, int, float or bool; Python's
//     insertion order kept), list -> GenericList, tuple -> Tuple, int (64 bits) -> Int,
//     float -> Double, str -> String, bool, None;
//   torch._utils._rebuild_tensor_v2 / _rebuild_parameter -> a Tensor on the loader's storage with
//     the pickled storage offset, sizes and strides (no autograd state);
//   torch.jit._pickle build_intlist / build_doublelist / build_boollist / build_tensorlist ->
//     typed lists; restore_type_tag -> the tagged value itself;
//   with kDcpMetadata: an instance of a DCP class -> GenericDict {"__class__": "module.Name",
//     field: value, ...} (TensorProperties: {"__class__", "__state__": its 5-tuple}), a dict
//     keyed by instances -> a list of (key, value) tuples, torch.Size -> Tuple of ints, a dtype
//     or layout -> its name ("torch.float32", "torch.strided"), a path -> String.
// Opcodes: those of protocols 2 to 4 that containers and tensors need (PROTO, FRAME, MARK,
// EMPTY_DICT/LIST/TUPLE, TUPLE/TUPLE1-3, SETITEM(S), APPEND(S), BINPUT, LONG_BINPUT, MEMOIZE,
// BINGET, LONG_BINGET, BININT/BININT1/BININT2/LONG1, BINFLOAT, BINUNICODE, SHORT_BINUNICODE,
// BINSTRING, SHORT_BINSTRING, NONE, NEWTRUE, NEWFALSE, GLOBAL, STACK_GLOBAL, REDUCE, BUILD on a
// dict (its attributes are dropped) or an instance, NEWOBJ (kDcpMetadata), BINPERSID of ('storage',
// torch.<Type>Storage, key, location, numel), STOP). Throws std::runtime_error "<where>: <what>
// (pickle opcode <name> at byte <n>)" for anything else: truncated input, an unknown opcode, a
// refused global ("refuses global 'os.system'"), stack underflow, an undefined memo index, an
// integer beyond 64 bits, a tensor reaching past its storage, a recursive or too deeply nested
// structure. Errors thrown by `load_storage` propagate.
c10::IValue unpickle(const char* data, size_t size, const StorageLoader& load_storage,
                     const std::string& where, PickleGlobals globals = PickleGlobals::kTorchSave);

}  // namespace nt
