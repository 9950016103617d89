// Tolerances derived from the dtype of a computation, so that a comparison holds on every
// processor (AVX2-only CPUs round bf16 matmuls differently from AVX-512 bf16 ones) instead of
// matching one machine's measured difference.
#pragma once

#include <c10/core/ScalarType.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace nt::testing {

// Unit roundoff u: the largest relative error of one rounding to nearest, 2^-p for a p-bit
// significand: 2^-24 for float32, 2^-8 for bfloat16.
inline double unit_roundoff(c10::ScalarType dtype) {
  return dtype == c10::kBFloat16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -24);
}

// Relative error, in float32, of a sum of `terms` products computed in two different orders:
// the probabilistic bound sqrt(n) * u of rounding errors that behave as independent (Higham and
// Mary, 2019), for each of the two results.
inline double summation_order_error(int64_t terms) {
  return 2.0 * std::sqrt(static_cast<double>(terms)) * unit_roundoff(c10::kFloat);
}

// Relative error, between two summation orders, of the weight gradients of a GPT of width
// `n_embd` over `tokens` tokens: the longest dot products behind them run over the tokens times
// the MLP's hidden width (4 * n_embd).
inline double weight_gradient_error(int64_t tokens, int64_t n_embd) {
  return summation_order_error(tokens * 4 * n_embd);
}

// Bound on |L_1 - L_2| for a GPT's mean loss over `tokens` tokens computed in float32 by two
// implementations from the same weights: each token's term comes from dot products of at most
// the MLP's hidden width (4 * n_embd) products, and the mean sums the tokens: one sum of
// tokens * 4 * n_embd terms, relative to the loss.
inline double loss_error(double loss, int64_t tokens, int64_t n_embd) {
  return std::abs(loss) * summation_order_error(tokens * 4 * n_embd);
}

// Bound on ||NS_1 - NS_2|| / ||NS|| for two runs of Muon's Newton-Schulz iteration in `dtype`
// whose inputs differ by `input_error` (relative, Frobenius norm):
//  - the input difference grows at most by the quintic's largest slope a = 3.4445 (at 0) per
//    step: a^steps * input_error;
//  - every rounding of the iteration (the input cast, then three matmul results per step)
//    moves the result by at most u relative. The quintic contracts towards singular values in
//    [0.7, 1.2], which carry the norm, so a rounding is not amplified to first order; each run
//    has its own: 2 * (3 * steps + 1) * u.
inline double newton_schulz_tolerance(c10::ScalarType dtype, int64_t steps, double input_error) {
  constexpr double kSlope = 3.4445;
  return std::pow(kSlope, static_cast<double>(steps)) * input_error +
         2.0 * (3.0 * static_cast<double>(steps) + 1.0) * unit_roundoff(dtype);
}

// Bound on ||W_1 - W_2||_F for a (rows, cols) Muon matrix after `updates` updates of learning
// rate at most `lr` in two runs whose Newton-Schulz results differ relatively by at most
// `ns_tolerance`: each update is lr * sqrt(max(1, rows / cols)) * NS, and ||NS||_F is at most
// 1.2 * sqrt(min(rows, cols)) since its singular values are at most 1.2. (A weight difference
// after one update also changes the next gradient; at these step counts that is far below the
// rounding terms.)
inline double muon_weight_tolerance(int64_t rows, int64_t cols, double lr, int64_t updates,
                                    double ns_tolerance) {
  const double r = static_cast<double>(rows), c = static_cast<double>(cols);
  return static_cast<double>(updates) * lr * std::sqrt(std::max(1.0, r / c)) * ns_tolerance * 1.2 *
         std::sqrt(std::min(r, c));
}

}  // namespace nt::testing
