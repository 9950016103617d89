// flatten_ivalue and its inverse. Dicts keep their insertion order (a JSON list of pairs), which
// the optimizers' state dicts rely on; lists come back as generic lists, as the unpickler
// returns them.
#include "checkpoint/flat_ivalue.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace nt {
namespace {

constexpr c10::ScalarType kDtypes[] = {c10::ScalarType::Float, c10::ScalarType::BFloat16,
                                       c10::ScalarType::Half,  c10::ScalarType::Double,
                                       c10::ScalarType::Long,  c10::ScalarType::Int,
                                       c10::ScalarType::Short, c10::ScalarType::Char,
                                       c10::ScalarType::Byte,  c10::ScalarType::Bool};

nlohmann::json flatten(const c10::IValue& value, std::vector<at::Tensor>& tensors) {
  if (value.isTensor()) {
    tensors.push_back(value.toTensor().detach().cpu().contiguous());
    return {{"tensor", tensors.size() - 1}};
  }
  if (value.isNone()) return {{"none", true}};
  if (value.isBool()) return {{"bool", value.toBool()}};
  if (value.isInt()) return {{"int", value.toInt()}};
  if (value.isDouble()) {
    const double d = value.toDouble();
    uint64_t bits = 0;
    std::memcpy(&bits, &d, sizeof(bits));
    return {{"double", bits}};
  }
  if (value.isString()) return {{"str", value.toStringRef()}};
  if (value.isGenericDict()) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& item : value.toGenericDict())
      items.push_back({flatten(item.key(), tensors), flatten(item.value(), tensors)});
    return {{"dict", std::move(items)}};
  }
  if (value.isList() || value.isTuple()) {
    nlohmann::json items = nlohmann::json::array();
    const auto elements = value.isList() ? value.toListRef() : value.toTupleRef().elements();
    for (const auto& item : elements) items.push_back(flatten(item, tensors));
    return {{value.isList() ? "list" : "tuple", std::move(items)}};
  }
  throw std::invalid_argument(fmt::format("cannot flatten a value of kind {}", value.tagKind()));
}

c10::IValue unflatten(const nlohmann::json& j, const std::vector<at::Tensor>& tensors,
                      const std::string& where) {
  if (!j.is_object() || j.size() != 1)
    throw std::runtime_error(where + ": expected an object with one key");
  const auto& [kind, body] = *j.items().begin();
  if (kind == "tensor") {
    const auto index = body.get<size_t>();
    if (index >= tensors.size())
      throw std::runtime_error(fmt::format("{}: tensor {} of {}", where, index, tensors.size()));
    return tensors[index];
  }
  if (kind == "none") return c10::IValue();
  if (kind == "bool") return body.get<bool>();
  if (kind == "int") return body.get<int64_t>();
  if (kind == "double") {
    const auto bits = body.get<uint64_t>();
    double d = 0;
    std::memcpy(&d, &bits, sizeof(d));
    return d;
  }
  if (kind == "str") return body.get<std::string>();
  if (kind == "dict") {
    // The keys' type decides the dict's, as the unpickler types a dict by its keys.
    const bool int_keys = !body.empty() && body.front().at(0).contains("int");
    const c10::TypePtr key_type =
        int_keys ? c10::TypePtr(c10::IntType::get()) : c10::TypePtr(c10::StringType::get());
    c10::impl::GenericDict dict(key_type, c10::AnyType::get());
    for (const auto& pair : body)
      dict.insert(unflatten(pair.at(0), tensors, where), unflatten(pair.at(1), tensors, where));
    return dict;
  }
  if (kind == "list" || kind == "tuple") {
    std::vector<c10::IValue> items;
    for (const auto& item : body) items.push_back(unflatten(item, tensors, where));
    if (kind == "tuple") return c10::ivalue::Tuple::create(std::move(items));
    c10::impl::GenericList list(c10::AnyType::get());
    for (auto& item : items) list.push_back(std::move(item));
    return list;
  }
  throw std::runtime_error(fmt::format("{}: unknown kind '{}'", where, kind));
}

}  // namespace

FlatIValue flatten_ivalue(const c10::IValue& value) {
  FlatIValue flat;
  flat.structure = flatten(value, flat.tensors);
  return flat;
}

c10::IValue unflatten_ivalue(const nlohmann::json& structure,
                             const std::vector<at::Tensor>& tensors, const std::string& where) {
  try {
    return unflatten(structure, tensors, where);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", where, e.what()));
  }
}

c10::IValue map_tensors(const c10::IValue& value,
                        const std::function<at::Tensor(const at::Tensor&)>& f) {
  if (value.isTensor()) return f(value.toTensor());
  if (value.isGenericDict()) {
    const auto dict = value.toGenericDict();
    c10::impl::GenericDict out(dict.keyType(), dict.valueType());
    for (const auto& item : dict) out.insert(item.key(), map_tensors(item.value(), f));
    return out;
  }
  if (value.isList()) {
    const auto list = value.toList();
    c10::impl::GenericList out(list.elementType());
    for (const c10::IValue& item : list.vec()) out.push_back(map_tensors(item, f));
    return out;
  }
  if (value.isTuple()) {
    std::vector<c10::IValue> items;
    for (const auto& item : value.toTupleRef().elements()) items.push_back(map_tensors(item, f));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  return value;
}

std::string dtype_to_name(c10::ScalarType type) {
  return c10::toString(type);
}

c10::ScalarType dtype_from_name(const std::string& name, const std::string& where) {
  for (auto type : kDtypes)
    if (name == c10::toString(type)) return type;
  throw std::runtime_error(fmt::format("{}: unknown dtype '{}'", where, name));
}

}  // namespace nt
