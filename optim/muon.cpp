// Muon's momentum and Newton-Schulz orthogonalization. nanochat runs the iteration in bf16: it is
// stable there and twice as fast as fp32 on GPUs and CPUs with bf16 units, but some 30x slower
// than fp32 on CPUs without them, so the precision is an option.
#include "optim/muon.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "runtime/torch_compat.h"

namespace nt {

torch::Tensor zeropower_via_newtonschulz5(const torch::Tensor& g, int64_t steps,
                                          torch::ScalarType dtype) {
  if (dtype != torch::kBFloat16 && dtype != torch::kFloat32)
    throw std::invalid_argument(
        fmt::format("Newton-Schulz: expected bfloat16 or float32, found {}", c10::toString(dtype)));
  constexpr double a = 3.4445, b = -4.7750, c = 2.0315;
  const bool tall = g.size(-2) > g.size(-1);
  auto x = g.to(dtype);
  if (tall) x = x.transpose(-2, -1);
  x = x / (matrix_norm_fro(x) + 1e-7);
  for (int64_t i = 0; i < steps; ++i) {
    auto A = torch::matmul(x, x.transpose(-2, -1));
    auto B = b * A + torch::matmul(c * A, A);
    x = a * x + torch::matmul(B, x);
  }
  if (tall) x = x.transpose(-2, -1);
  return x;
}

int64_t newton_schulz_flops(int64_t rows, int64_t cols, int64_t steps) {
  const int64_t m = std::min(rows, cols), n = std::max(rows, cols);
  return steps * (4 * m * m * n + 2 * m * m * m);
}

Muon::Muon(std::vector<ParamGroup> groups, MuonOptions options)
    : Optimizer(std::move(groups)), options_(options) {
  for (const auto& group : groups_)
    for (const auto& p : group.params)
      if (p.dim() != 2)
        throw std::invalid_argument(
            fmt::format("Muon: expected 2-D parameters, found shape {}", c10::str(p.sizes())));
}

void Muon::update(torch::Tensor& param, const torch::Tensor& grad, State& state, double lr) {
  const auto& o = options_;
  auto& buf = state["momentum_buffer"];
  if (!buf.defined()) buf = torch::zeros_like(grad);
  buf.lerp_(grad, 1.0 - o.momentum);
  auto g = o.nesterov ? grad.lerp(buf, o.momentum) : buf;
  g = zeropower_via_newtonschulz5(g, o.ns_steps, o.ns_dtype);
  const double aspect = static_cast<double>(param.size(-2)) / param.size(-1);
  param.add_(g, -lr * std::sqrt(std::max(1.0, aspect)));
}

void Muon::write_options(c10::impl::GenericDict& group) const {
  group.insert("momentum", options_.momentum);
  group.insert("nesterov", options_.nesterov);
  group.insert("ns_steps", options_.ns_steps);
}

void Muon::read_options(const c10::impl::GenericDict& group, const std::string& where, bool apply) {
  MuonOptions o = options_;  // ns_dtype is this process's choice, not the file's
  o.momentum = dict_number(group, "momentum", where);
  o.nesterov = dict_bool(group, "nesterov", where);
  const double steps = dict_number(group, "ns_steps", where);
  if (steps < 0 || steps != std::floor(steps))
    throw std::invalid_argument(
        fmt::format("{}: key 'ns_steps': expected a non-negative integer, found {}", where, steps));
  o.ns_steps = static_cast<int64_t>(steps);
  if (apply) options_ = o;
}

}  // namespace nt
