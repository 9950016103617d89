// AdamW with decoupled weight decay, numerically as torch.optim.AdamW (single-tensor path):
// nanochat uses it for the embedding and the lm_head.
#pragma once

#include "optim/optimizer.h"

namespace nt {

struct AdamWOptions {
  double beta1 = 0.8;  // nanochat's betas, not PyTorch's (0.9, 0.999)
  double beta2 = 0.95;
  double eps = 1e-10;
  double weight_decay = 0.0;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options);

  const AdamWOptions& options() const { return options_; }

  // One AdamW update of `param` in place. state: {"step": fp32 scalar, "exp_avg",
  // "exp_avg_sq": shaped like param}, created on the first call. The distributed optimizer
  // calls this on the slice of a parameter its rank owns.
  void update(torch::Tensor& param, const torch::Tensor& grad, State& state, double lr) override;
  Sharding sharding() const override { return Sharding::kFlat; }

 protected:
  void write_options(c10::impl::GenericDict& group) const override;
  void read_options(const c10::impl::GenericDict& group, const std::string& where,
                    bool apply) override;
  std::vector<std::string> state_keys() const override;
  std::vector<int64_t> state_shape(const std::string& key,
                                   const torch::Tensor& param) const override;

 private:
  AdamWOptions options_;
};

}  // namespace nt
