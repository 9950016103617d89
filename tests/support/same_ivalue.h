// Structural equality of state-dict trees (dicts, lists, tensors, scalars), for tests that
// compare optimizer state saved, merged or loaded along different paths.
#pragma once

#include <torch/torch.h>

namespace nt::testing {

// Every tensor equal (values and shape) and the same structure; other values by ==.
inline bool same_ivalue(const c10::IValue& a, const c10::IValue& b) {
  if (a.isTensor()) return b.isTensor() && torch::equal(a.toTensor(), b.toTensor());
  if (a.isGenericDict()) {
    if (!b.isGenericDict() || a.toGenericDict().size() != b.toGenericDict().size()) return false;
    for (const auto& item : a.toGenericDict()) {
      auto it = b.toGenericDict().find(item.key());
      if (it == b.toGenericDict().end() || !same_ivalue(item.value(), it->value())) return false;
    }
    return true;
  }
  if (a.isList()) {
    if (!b.isList() || a.toListRef().size() != b.toListRef().size()) return false;
    for (size_t i = 0; i < a.toListRef().size(); ++i)
      if (!same_ivalue(a.toListRef()[i], b.toListRef()[i])) return false;
    return true;
  }
  return a == b;
}

}  // namespace nt::testing
