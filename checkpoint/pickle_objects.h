// Internal to the pickle reader: the objects a pickle builds before they become IValues, the
// allow-list of globals and what calling each one builds (dicts, tensors on loaded storages,
// typed lists), and the final conversion to IValues. Objects live in an arena owned by one run
// and refer to each other by raw pointers, so the cycles a pickle can build (a list appended to
// itself) leak nothing; the conversion reports them as errors.
#pragma once

#include <ATen/core/ivalue.h>

#include <deque>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "checkpoint/pickle_reader.h"

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
  kTypedList
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
  kBuildTensorList
};

struct AllowedGlobal {
  const char* module;
  const char* name;
  Callable callable;
  at::ScalarType dtype;  // storage types only
};

// The allowed global `module`.`name`; throws Error "refuses global 'module.name'" for any other.
const AllowedGlobal& find_global(const std::string& module, const std::string& name);

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

class Arena {
 public:
  Object* make(Kind kind);

 private:
  std::deque<Object> objects_;  // a deque: addresses stay valid as it grows
};

// REDUCE: `callable` (a global) applied to `args` (a tuple).
Object* call(Arena& arena, const Object& callable, const Object& args);

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

// STOP: the value `root` built, as IValues.
c10::IValue to_ivalue(const Object& root);

}  // namespace nt::pickle
