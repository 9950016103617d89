// Muon: SGD momentum whose update is orthogonalized by a Newton-Schulz iteration, for the 2-D
// matrices of the transformer blocks (nanochat's Muon, as of December 2025).
#pragma once

#include "optim/optimizer.h"

namespace nt {

struct MuonOptions {
  double momentum = 0.95;  // nanochat warms it up from 0.85 over 300 steps (muon_momentum)
  bool nesterov = true;
  int64_t ns_steps = 5;
  // Newton-Schulz precision: nanochat's bfloat16 where bf16 matmul is native (see
  // runtime/precision.h), float32 elsewhere. Not part of the state dict (nanochat's has none).
  torch::ScalarType ns_dtype = torch::kBFloat16;
};

// Approximately orthogonalizes g (rows, cols) with `steps` quintic Newton-Schulz iterations,
// (a, b, c) = (3.4445, -4.7750, 2.0315), in `dtype` (bfloat16 or float32) on
// X / (||X||_F + 1e-7); tall matrices are transposed first and back after. Returns a tensor of
// g's shape in `dtype`.
torch::Tensor zeropower_via_newtonschulz5(const torch::Tensor& g, int64_t steps,
                                          torch::ScalarType dtype = torch::kBFloat16);

// Multiply-add FLOPs (2 per multiply-add) of zeropower_via_newtonschulz5 on a (rows, cols)
// matrix: per step, with m = min(rows, cols) and n = max: X X^T (2 m^2 n), A A (2 m^3), B X
// (2 m^2 n).
int64_t newton_schulz_flops(int64_t rows, int64_t cols, int64_t steps);

class Muon : public Optimizer {
 public:
  // Every parameter must be 2-D.
  Muon(std::vector<ParamGroup> groups, MuonOptions options);

  void set_momentum(double momentum) { options_.momentum = momentum; }
  const MuonOptions& options() const { return options_; }

  // One Muon update of `param` in place: buf = lerp(buf, g, 1 - m); nesterov: g = lerp(g, buf,
  // m), else g = buf; param -= lr * max(1, rows/cols)^0.5 * NS(g). state: {"momentum_buffer"}.
  void update(torch::Tensor& param, const torch::Tensor& grad, State& state, double lr) override;
  Sharding sharding() const override { return Sharding::kWholeParam; }

 protected:
  void write_options(c10::impl::GenericDict& group) const override;
  void read_options(const c10::impl::GenericDict& group, const std::string& where,
                    bool apply) override;
  std::vector<std::string> state_keys() const override { return {"momentum_buffer"}; }
  std::vector<int64_t> state_shape(const std::string&, const torch::Tensor& param) const override {
    return param.sizes().vec();
  }

 private:
  MuonOptions options_;
};

}  // namespace nt
