// What the allowed globals build. Tensors are views of loaded storages, checked to stay inside
// them before any view is made, so no later read can go out of bounds.
#include "serialize/pickle_objects.h"

#include <ATen/Functions.h>
#include <fmt/format.h>

#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace nt::pickle {
namespace {

// Deeper than any checkpoint nests; bounds the recursion of the conversion to IValues.
constexpr int kMaxDepth = 1000;
constexpr int64_t kMaxElements = int64_t{1} << 40;  // per tensor

// Everything torch.save (Python's, or LibTorch's pickler that nanotrain writes with) puts in a
// checkpoint. Nothing here is ever looked up or run: this file interprets each entry itself.
const AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", Callable::kOrderedDict, at::kFloat},
    {"torch._utils", "_rebuild_tensor_v2", Callable::kRebuildTensor, at::kFloat},
    {"torch._utils", "_rebuild_parameter", Callable::kRebuildParameter, at::kFloat},
    {"torch.jit._pickle", "restore_type_tag", Callable::kRestoreTypeTag, at::kFloat},
    {"torch.jit._pickle", "build_intlist", Callable::kBuildIntList, at::kFloat},
    {"torch.jit._pickle", "build_doublelist", Callable::kBuildDoubleList, at::kFloat},
    {"torch.jit._pickle", "build_boollist", Callable::kBuildBoolList, at::kFloat},
    {"torch.jit._pickle", "build_tensorlist", Callable::kBuildTensorList, at::kFloat},
    {"torch", "FloatStorage", Callable::kStorageType, at::kFloat},
    {"torch", "DoubleStorage", Callable::kStorageType, at::kDouble},
    {"torch", "HalfStorage", Callable::kStorageType, at::kHalf},
    {"torch", "BFloat16Storage", Callable::kStorageType, at::kBFloat16},
    {"torch", "LongStorage", Callable::kStorageType, at::kLong},
    {"torch", "IntStorage", Callable::kStorageType, at::kInt},
    {"torch", "ShortStorage", Callable::kStorageType, at::kShort},
    {"torch", "CharStorage", Callable::kStorageType, at::kChar},
    {"torch", "ByteStorage", Callable::kStorageType, at::kByte},
    {"torch", "BoolStorage", Callable::kStorageType, at::kBool},
};

// What torch.distributed.checkpoint pickles into .metadata (PyTorch 2.0 to 2.11): its
// dataclasses, and the few torch and pathlib values their fields hold. Only data is built.
constexpr const char* kDcpMetadataModule = "torch.distributed.checkpoint.metadata";
const AllowedGlobal kDcpGlobals[] = {
    {kDcpMetadataModule, "Metadata", Callable::kDcpClass, at::kFloat},
    {kDcpMetadataModule, "TensorStorageMetadata", Callable::kDcpClass, at::kFloat},
    {kDcpMetadataModule, "ChunkStorageMetadata", Callable::kDcpClass, at::kFloat},
    {kDcpMetadataModule, "TensorProperties", Callable::kDcpClass, at::kFloat},
    {kDcpMetadataModule, "BytesStorageMetadata", Callable::kDcpClass, at::kFloat},
    {kDcpMetadataModule, "MetadataIndex", Callable::kDcpClass, at::kFloat},
    {kDcpMetadataModule, "StorageMeta", Callable::kDcpClass, at::kFloat},
    {kDcpMetadataModule, "_MEM_FORMAT_ENCODING", Callable::kEnumValue, at::kFloat},
    // Python 3.11.0-3.11.4 (Debian 12's 3.11.2 among them) pickle an enum member by name.
    {"builtins", "getattr", Callable::kEnumMember, at::kFloat},
    {"__builtin__", "getattr", Callable::kEnumMember, at::kFloat},
    {"torch.distributed.checkpoint.filesystem", "_StorageInfo", Callable::kDcpClass, at::kFloat},
    {"torch", "Size", Callable::kTorchSize, at::kFloat},
    {"torch.serialization", "_get_layout", Callable::kGetLayout, at::kFloat},
    {"torch", "strided", Callable::kNamedValue, at::kFloat},
    {"torch", "float32", Callable::kNamedValue, at::kFloat},
    {"torch", "float64", Callable::kNamedValue, at::kDouble},
    {"torch", "float16", Callable::kNamedValue, at::kHalf},
    {"torch", "bfloat16", Callable::kNamedValue, at::kBFloat16},
    {"torch", "int64", Callable::kNamedValue, at::kLong},
    {"torch", "int32", Callable::kNamedValue, at::kInt},
    {"torch", "int16", Callable::kNamedValue, at::kShort},
    {"torch", "int8", Callable::kNamedValue, at::kChar},
    {"torch", "uint8", Callable::kNamedValue, at::kByte},
    {"torch", "bool", Callable::kNamedValue, at::kBool},
    {"pathlib", "PosixPath", Callable::kPath, at::kFloat},
    {"pathlib", "PurePosixPath", Callable::kPath, at::kFloat},
    {"pathlib._local", "PosixPath", Callable::kPath, at::kFloat},
};

Object* make_string(Arena& arena, std::string text) {
  Object* o = arena.make(Kind::kString);
  o->text = std::move(text);
  return o;
}

std::vector<int64_t> int_tuple(const Object& o, const std::string& what) {
  if (o.kind != Kind::kTuple) throw Error(what + ": expected a tuple of ints");
  std::vector<int64_t> values;
  for (const Object* e : o.items) {
    if (e->kind != Kind::kInt || e->integer < 0) throw Error(what + ": expected non-negative ints");
    values.push_back(e->integer);
  }
  return values;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
// [, metadata]): a view of the storage, checked to stay inside it. Autograd state is dropped.
Object* rebuild_tensor(Arena& arena, const std::string& name, const std::vector<Object*>& a) {
  if ((a.size() != 6 && a.size() != 7) || a[0]->kind != Kind::kStorage ||
      a[1]->kind != Kind::kInt || a[4]->kind != Kind::kBool)
    throw Error(name +
                ": expected arguments (storage, storage_offset, size, stride, requires_grad, "
                "backward_hooks[, metadata])");
  const Object& storage = *a[0];
  const int64_t offset = a[1]->integer;
  const auto sizes = int_tuple(*a[2], name + " size");
  const auto strides = int_tuple(*a[3], name + " stride");
  const std::string shape = fmt::format("size {}, stride {}", c10::str(c10::IntArrayRef(sizes)),
                                        c10::str(c10::IntArrayRef(strides)));
  if (sizes.size() != strides.size()) throw Error(name + ": " + shape + " differ in length");
  // Zero strides let a tiny storage claim any number of elements; LibTorch's own size arithmetic
  // must never overflow, and no checkpoint tensor holds 2^40 elements.
  int64_t numel = 1;
  for (size_t d = 0; d < sizes.size(); ++d)
    if (sizes[d] < 0 || strides[d] < 0 || __builtin_mul_overflow(numel, sizes[d], &numel) ||
        numel > kMaxElements)
      throw Error(
          fmt::format("{}: {}: expected non-negative sizes and strides and at most {} "
                      "elements",
                      name, shape, kMaxElements));
  // The furthest element the view reads; an empty view reads nothing but must start inside.
  int64_t last = offset;
  bool empty = false;
  for (size_t d = 0; d < sizes.size(); ++d) {
    int64_t span = 0;
    empty = empty || sizes[d] == 0;
    if (__builtin_mul_overflow(sizes[d] == 0 ? 0 : sizes[d] - 1, strides[d], &span) ||
        __builtin_add_overflow(last, span, &last))
      throw Error(name + ": " + shape + " overflows");
  }
  const int64_t capacity = storage.tensor.numel();
  if (offset < 0 || offset > capacity || (!empty && last >= capacity))
    throw Error(
        fmt::format("{}: {} at offset {} reaches element {} of storage '{}', which holds {}", name,
                    shape, offset, empty ? offset : last, storage.text, capacity));
  Object* o = arena.make(Kind::kTensor);
  o->tensor =
      at::empty({0}, storage.tensor.options())
          .set_(storage.tensor.storage(), storage.tensor.storage_offset() + offset, sizes, strides);
  return o;
}

// build_intlist and friends: LibTorch's pickler writes homogeneous lists through them.
Object* typed_list(Arena& arena, Callable kind, const Object& list) {
  Object* o = arena.make(Kind::kTypedList);
  arena.charge(list.items.size());
  auto build = [&](auto typed, Kind element, auto get) {
    for (size_t i = 0; i < list.items.size(); ++i) {
      if (list.items[i]->kind != element)
        throw Error(fmt::format("list of {}: element {} is a {}", kind_name(element), i,
                                kind_name(list.items[i]->kind)));
      typed.push_back(get(*list.items[i]));
    }
    o->typed = typed;
  };
  if (kind == Callable::kBuildIntList)
    build(c10::List<int64_t>(), Kind::kInt, [](const Object& e) { return e.integer; });
  else if (kind == Callable::kBuildDoubleList)
    build(c10::List<double>(), Kind::kFloat, [](const Object& e) { return e.real; });
  else if (kind == Callable::kBuildBoolList)
    build(c10::List<bool>(), Kind::kBool, [](const Object& e) { return e.integer != 0; });
  else
    build(c10::List<at::Tensor>(), Kind::kTensor, [](const Object& e) { return e.tensor; });
  return o;
}

class Converter {
 public:
  c10::IValue convert(const Object& o, int depth) {
    if (depth > kMaxDepth) throw Error(fmt::format("structure nested deeper than {}", kMaxDepth));
    if (auto it = done_.find(&o); it != done_.end()) return it->second;  // shared, as in Python
    if (!in_progress_.insert(&o).second)
      throw Error(fmt::format("a {} contains itself", kind_name(o.kind)));
    c10::IValue v = build(o, depth);
    in_progress_.erase(&o);
    done_.emplace(&o, v);
    return v;
  }

 private:
  c10::IValue build(const Object& o, int depth) {
    switch (o.kind) {
      case Kind::kNone:
        return c10::IValue();
      case Kind::kBool:
        return o.integer != 0;
      case Kind::kInt:
        return o.integer;
      case Kind::kFloat:
        return o.real;
      case Kind::kString:
        return o.text;
      case Kind::kTensor:
        return o.tensor;
      case Kind::kTypedList:
        return o.typed;
      case Kind::kTuple: {
        std::vector<c10::IValue> items;
        for (const Object* e : o.items) items.push_back(convert(*e, depth + 1));
        return c10::ivalue::Tuple::create(std::move(items));
      }
      case Kind::kList: {
        c10::impl::GenericList list(c10::AnyType::get());
        for (const Object* e : o.items) list.push_back(convert(*e, depth + 1));
        return list;
      }
      case Kind::kDict: {
        if (o.items.size() >= 2 && o.items[0]->kind == Kind::kInstance) return pairs(o, depth);
        c10::impl::GenericDict dict(c10::AnyType::get(), c10::AnyType::get());
        for (size_t i = 0; i + 1 < o.items.size(); i += 2) {
          const Kind key = o.items[i]->kind;
          if (key != Kind::kString && key != Kind::kInt && key != Kind::kFloat &&
              key != Kind::kBool)
            throw Error(
                fmt::format("dict key is a {}: expected str, int, float or bool", kind_name(key)));
          dict.insert_or_assign(convert(*o.items[i], depth + 1),
                                convert(*o.items[i + 1], depth + 1));
        }
        return dict;
      }
      case Kind::kInstance: {
        c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
        dict.insert("__class__", o.text);
        for (size_t i = 0; i + 1 < o.items.size(); i += 2) {
          if (o.items[i]->kind != Kind::kString)
            throw Error(fmt::format("{}: field name is a {}", o.text, kind_name(o.items[i]->kind)));
          dict.insert_or_assign(o.items[i]->text, convert(*o.items[i + 1], depth + 1));
        }
        return dict;
      }
      case Kind::kGlobal:
        if (o.global->callable == Callable::kNamedValue) return o.text;
        throw Error(fmt::format("global '{}' where a value belongs", o.text));
      case Kind::kStorage:
        throw Error(
            fmt::format("bare storage '{}' where a value belongs (expected a tensor)", o.text));
    }
    throw Error("unknown object kind");
  }

  // A dict keyed by instances, which IValue dicts cannot hold, as (key, value) tuples.
  c10::IValue pairs(const Object& o, int depth) {
    c10::impl::GenericList list(c10::AnyType::get());
    for (size_t i = 0; i + 1 < o.items.size(); i += 2) {
      if (o.items[i]->kind != Kind::kInstance)
        throw Error(
            fmt::format("dict keyed by instances has a {} key", kind_name(o.items[i]->kind)));
      list.push_back(c10::ivalue::Tuple::create(
          {convert(*o.items[i], depth + 1), convert(*o.items[i + 1], depth + 1)}));
    }
    return list;
  }

  std::unordered_map<const Object*, c10::IValue> done_;
  std::unordered_set<const Object*> in_progress_;
};

}  // namespace

const char* kind_name(Kind kind) {
  static const char* const kNames[] = {"None",   "bool",       "int",     "float",  "str",
                                       "tuple",  "list",       "dict",    "global", "storage",
                                       "tensor", "typed list", "instance"};
  return kNames[static_cast<int>(kind)];
}

const AllowedGlobal& find_global(const std::string& module, const std::string& name,
                                 PickleGlobals globals) {
  if (globals == PickleGlobals::kTorchSave) {
    for (const auto& g : kAllowedGlobals)
      if (module == g.module && name == g.name) return g;
    throw Error(fmt::format(
        "refuses global '{}.{}': only torch.save's containers, tensors and storages are read, "
        "and nothing in a file is ever run",
        module, name));
  }
  for (const auto& g : kDcpGlobals)
    if (module == g.module && name == g.name) return g;
  throw Error(fmt::format(
      "refuses global '{}.{}': only torch.distributed.checkpoint's metadata classes are read, "
      "and nothing in a file is ever run",
      module, name));
}

void Arena::charge(size_t units) {
  if (units > budget_ - spent_)
    throw Error(fmt::format(
        "more than {} objects and copied list elements (the budget for {} bytes of pickle): a "
        "crafted or corrupt file",
        budget_, (budget_ - kBudgetBase) / kBudgetPerByte));
  spent_ += units;
}

Object* Arena::make(Kind kind) {
  charge(1);
  objects_.emplace_back();
  objects_.back().kind = kind;
  return &objects_.back();
}

Object* call(Arena& arena, const Object& callable, const Object& args) {
  if (callable.kind != Kind::kGlobal)
    throw Error(fmt::format("expected a global to call, found a {}", kind_name(callable.kind)));
  if (args.kind != Kind::kTuple)
    throw Error(fmt::format("{}: expected an argument tuple, found a {}", callable.text,
                            kind_name(args.kind)));
  const auto& a = args.items;
  auto expect = [&](bool ok, const char* signature) {
    if (!ok) throw Error(fmt::format("{}: expected arguments {}", callable.text, signature));
  };
  switch (callable.global->callable) {
    case Callable::kOrderedDict:
      expect(a.empty(), "()");
      return arena.make(Kind::kDict);
    case Callable::kRebuildTensor:
      return rebuild_tensor(arena, callable.text, a);
    case Callable::kRebuildParameter:
      expect(a.size() == 3 && a[0]->kind == Kind::kTensor,
             "(tensor, requires_grad, backward_hooks)");
      return a[0];
    case Callable::kRestoreTypeTag:
      expect(a.size() == 2 && a[1]->kind == Kind::kString, "(value, type string)");
      return a[0];
    case Callable::kBuildIntList:
    case Callable::kBuildDoubleList:
    case Callable::kBuildBoolList:
    case Callable::kBuildTensorList:
      expect(a.size() == 1 && a[0]->kind == Kind::kList, "(list,)");
      return typed_list(arena, callable.global->callable, *a[0]);
    case Callable::kTorchSize:
      expect(a.size() == 1 && a[0]->kind == Kind::kTuple, "(tuple,)");
      int_tuple(*a[0], callable.text);
      return a[0];
    case Callable::kGetLayout:
      expect(a.size() == 1 && a[0]->kind == Kind::kString, "(layout name,)");
      return a[0];
    case Callable::kEnumValue: {
      expect(a.size() == 1 && a[0]->kind == Kind::kInt, "(int,)");
      return a[0];
    }
    case Callable::kEnumMember: {
      // Only a member of the one allowed enum, by its name: no other attribute is looked up.
      expect(a.size() == 2 && a[0]->kind == Kind::kGlobal &&
                 a[0]->global->callable == Callable::kEnumValue && a[1]->kind == Kind::kString,
             "(_MEM_FORMAT_ENCODING, member name)");
      static const std::pair<const char*, int64_t> kMembers[] = {
          {"TORCH_CONTIGUOUS_FORMAT", 0}, {"TORCH_CHANNELS_LAST", 1}, {"TORCH_PRESERVE_FORMAT", 2}};
      for (const auto& [name, value] : kMembers) {
        if (a[1]->text != name) continue;
        Object* member = arena.make(Kind::kInt);
        member->integer = value;
        return member;
      }
      throw Error(
          fmt::format("{}: '{}' is not a member of {}", callable.text, a[1]->text, a[0]->text));
    }
    case Callable::kPath: {
      std::string path;
      for (const Object* part : a) {
        expect(part->kind == Kind::kString, "(str, ...)");
        if (!path.empty() && path.back() != '/') path += '/';
        path += part->text;
      }
      return make_string(arena, path);
    }
    case Callable::kStorageType:
      throw Error(callable.text + " is a storage type, not something to call");
    case Callable::kDcpClass:
      throw Error(callable.text + " is a class that NEWOBJ builds, not something to call");
    case Callable::kNamedValue:
      break;
  }
  throw Error(callable.text + " is a value, not something to call");
}

Object* new_object(Arena& arena, const Object& cls, const Object& args) {
  if (cls.kind != Kind::kGlobal || cls.global->callable != Callable::kDcpClass)
    throw Error(fmt::format("NEWOBJ of a {} ('{}'): expected an allowed class", kind_name(cls.kind),
                            cls.text));
  if (args.kind != Kind::kTuple || !args.items.empty())
    throw Error(fmt::format("{}: expected no constructor arguments", cls.text));
  Object* o = arena.make(Kind::kInstance);
  o->text = cls.text;
  return o;
}

void build(Object& target, Arena& arena, Object* state) {
  if (target.kind == Kind::kDict) return;
  if (target.kind != Kind::kInstance)
    throw Error(fmt::format("BUILD on a {}: only dicts and instances take a state",
                            kind_name(target.kind)));
  if (state->kind == Kind::kDict) {
    arena.charge(state->items.size());
    target.items = state->items;
    return;
  }
  target.items = {make_string(arena, "__state__"), state};
}

Object* Storages::load(Arena& arena, const Object& pid) {
  const auto& p = pid.items;
  if (pid.kind != Kind::kTuple || p.size() != 5 || p[0]->kind != Kind::kString ||
      p[0]->text != "storage" || p[1]->kind != Kind::kGlobal ||
      p[1]->global->callable != Callable::kStorageType || p[2]->kind != Kind::kString ||
      p[3]->kind != Kind::kString || p[4]->kind != Kind::kInt)
    throw Error("persistent id: expected ('storage', torch.<Type>Storage, key, location, numel)");
  const at::ScalarType dtype = p[1]->global->dtype;
  const std::string& key = p[2]->text;
  const int64_t numel = p[4]->integer;
  const auto element_size = static_cast<int64_t>(c10::elementSize(dtype));
  if (numel < 0 || numel > std::numeric_limits<int64_t>::max() / element_size)
    throw Error(fmt::format("storage '{}': impossible element count {}", key, numel));
  if (auto it = loaded_.find(key); it != loaded_.end()) {
    const at::Tensor& known = it->second->tensor;
    if (known.scalar_type() != dtype || known.numel() != numel)
      throw Error(fmt::format("storage '{}' is {} x {} here, {} x {} before", key, numel,
                              c10::toString(dtype), known.numel(),
                              c10::toString(known.scalar_type())));
    return it->second;
  }
  at::Tensor t = loader_(key, dtype, numel);
  if (!t.defined() || t.scalar_type() != dtype || t.dim() != 1 || t.numel() != numel ||
      !t.is_contiguous())
    throw Error(fmt::format("storage '{}': the loader did not return {} contiguous {} elements",
                            key, numel, c10::toString(dtype)));
  Object* o = arena.make(Kind::kStorage);
  o->text = key;
  o->tensor = std::move(t);
  loaded_[key] = o;
  return o;
}

c10::IValue to_ivalue(const Object& root) {
  return Converter().convert(root, 0);
}

}  // namespace nt::pickle
