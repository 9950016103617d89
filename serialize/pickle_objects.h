// Internal to the pickle reader: the objects a pickle builds before they become IValues, the
// allow-lists of globals (torch.save's, and DCP's metadata classes) and what calling each one
// builds (dicts, tensors on loaded storages, typed lists, class instances), and the final
// conversion to IValues. Objects live in an arena owned by one run
// and refer to each other by raw pointers, so the cycles a pickle can build (a list appended to
// itself) leak nothing; the conversion reports them as errors.
#pragma once

#include <ATen/core/ivalue.h>

#include <deque>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "serialize/pickle_reader.h"

namespace nt::pickle {

// What is wrong with the input, without position; the interpreter adds where and which opcode.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Kind {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kTuple,
  kList,
  kDict,
  kGlobal,
  kStorage,
  kTensor,
  kTypedList,
  kInstance  // of an allowed class: text is its qualified name, items its fields
};
const char* kind_name(Kind kind);

enum class Callable {
  kOrderedDict,
  kRebuildTensor,
  kRebuildParameter,
  kStorageType,
  kRestoreTypeTag,
  kBuildIntList,
  kBuildDoubleList,
  kBuildBoolList,
  kBuildTensorList,
  kDcpClass,    // a DCP metadata class: built by NEWOBJ, filled by BUILD
  kNamedValue,  // a global that is a value itself (torch.float32): becomes its name
  kTorchSize,   // torch.Size(tuple) -> the tuple
  kGetLayout,   // torch.serialization._get_layout("torch.strided") -> the string
  kEnumValue,   // DCP's _MEM_FORMAT_ENCODING(int) -> the int
  kEnumMember,  // getattr(_MEM_FORMAT_ENCODING, "NAME") -> the member's int, nothing else
  kPath         // pathlib.PosixPath(*parts) -> the joined path
};

struct AllowedGlobal {
  const char* module;
  const char* name;
  Callable callable;
  at::ScalarType dtype;  // storage types only
};

// The global `module`.`name` if `globals` allows it; throws Error "refuses global
// 'module.name'" for any other.
const AllowedGlobal& find_global(const std::string& module, const std::string& name,
                                 PickleGlobals globals);

struct Object {
  Kind kind = Kind::kNone;
  int64_t integer = 0;  // int; bool as 0 or 1
  double real = 0.0;
  std::string text;            // str; a global's qualified name; a storage's key
  std::vector<Object*> items;  // tuple, list; dict: key, value, key, value, ...
  const AllowedGlobal* global = nullptr;
  at::Tensor tensor;  // a storage (1-D) or a tensor
  c10::IValue typed;  // a typed list
};

// The objects of one unpickle, and a budget on the work they may take: each object made and
// each element copied (a typed list built from a list, a state given to an instance) costs one
// unit. A pickle of n bytes makes at most n objects and copies each list about once, so a budget
// of kBudgetPerByte * n (plus kBudgetBase) never binds on a real file; a crafted one that asks
// for the same memoized list a million times (5 bytes a copy) fails at once.
class Arena {
 public:
  static constexpr size_t kBudgetPerByte = 16, kBudgetBase = size_t{1} << 16;
  explicit Arena(size_t pickle_bytes) : budget_(kBudgetBase + kBudgetPerByte * pickle_bytes) {}
  Object* make(Kind kind);
  // Throws Error when `units` more would exceed the budget.
  void charge(size_t units);

 private:
  std::deque<Object> objects_;  // a deque: addresses stay valid as it grows
  size_t budget_, spent_ = 0;
};

// REDUCE: `callable` (a global) applied to `args` (a tuple).
Object* call(Arena& arena, const Object& callable, const Object& args);

// NEWOBJ: an empty instance of `cls` (an allowed class; `args` must be empty).
Object* new_object(Arena& arena, const Object& cls, const Object& args);

// BUILD: `state` set on `target`, replacing an earlier one. A dict's attributes are dropped (a
// state_dict's _metadata, unused in C++); an instance takes a dict state as its fields, any other
// state (the tuple of TensorProperties.__getstate__) as the field "__state__".
void build(Object& target, Arena& arena, Object* state);

// BINPERSID: the storages of one pickle, each loaded once through the StorageLoader.
class Storages {
 public:
  explicit Storages(const StorageLoader& loader) : loader_(loader) {}
  // `pid` must be ('storage', torch.<Type>Storage, key, location, numel).
  Object* load(Arena& arena, const Object& pid);

 private:
  const StorageLoader& loader_;
  std::map<std::string, Object*> loaded_;
};

// STOP: the value `root` built, as IValues. An instance becomes a dict {"__class__": its
// qualified name, field: value, ...}; a dict keyed by instances (DCP's storage_data, keyed by
// MetadataIndex) becomes a list of (key, value) tuples.
c10::IValue to_ivalue(const Object& root);

}  // namespace nt::pickle
