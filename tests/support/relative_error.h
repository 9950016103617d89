// The one number tests compare tensors by against a reference: max |a - b| / max |b|, robust to
// entries near zero (unlike an element-wise relative error), for any shape and dtype.
#pragma once

#include <ATen/ATen.h>

namespace nt::testing {

inline double relative_error(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

}  // namespace nt::testing
