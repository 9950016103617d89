// A training-state value (dicts with string or integer keys, lists, tuples, strings, numbers,
// booleans, None and tensors) as a JSON description plus its tensors, so that a snapshot can
// write the tensors' bytes straight from their memory instead of through a zip archive; and the
// same value with its tensors mapped (copied to host memory, staged).
#pragma once

#include <ATen/core/ivalue.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace nt {

struct FlatIValue {
  // {"tensor": i} where tensor i stands; doubles as their IEEE bits, so that every value,
  // infinities and NaN included, comes back exactly.
  nlohmann::json structure;
  std::vector<at::Tensor> tensors;  // contiguous, on the CPU
};

// Throws std::invalid_argument naming the kind of a value it cannot hold (an object, a future).
FlatIValue flatten_ivalue(const c10::IValue& value);

// The value `structure` describes, with tensor i taken from `tensors`. Throws std::runtime_error
// naming `where` for a description it cannot read or a tensor index out of range.
c10::IValue unflatten_ivalue(const nlohmann::json& structure,
                             const std::vector<at::Tensor>& tensors, const std::string& where);

// `value` with each tensor t replaced by f(t), dicts, lists and tuples rebuilt around them and
// everything else kept (numbers, strings, bools and None are immutable).
c10::IValue map_tensors(const c10::IValue& value,
                        const std::function<at::Tensor(const at::Tensor&)>& f);

// A dtype's name as c10 prints it ("Float", "BFloat16", "Long"), and back (std::runtime_error
// naming `where` for an unknown name).
std::string dtype_to_name(c10::ScalarType type);
c10::ScalarType dtype_from_name(const std::string& name, const std::string& where);

}  // namespace nt
