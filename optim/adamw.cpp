// AdamW's update, following torch.optim.AdamW's single-tensor arithmetic step by step (bias
// corrections in double, denominator sqrt(v)/sqrt(bc2) + eps) so results match it to rounding.
#include "optim/adamw.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace nt {

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : Optimizer(std::move(groups)), options_(options) {}

void AdamW::update(torch::Tensor& param, const torch::Tensor& grad, State& state, double lr) {
  const auto& o = options_;
  if (state.empty()) {
    state["step"] = torch::zeros({}, torch::kFloat32);
    state["exp_avg"] = torch::zeros_like(param);
    state["exp_avg_sq"] = torch::zeros_like(param);
  }
  auto& step_t = state["step"];
  auto& exp_avg = state["exp_avg"];
  auto& exp_avg_sq = state["exp_avg_sq"];
  step_t.add_(1);
  const double step = step_t.item<double>();
  param.mul_(1.0 - lr * o.weight_decay);
  exp_avg.mul_(o.beta1).add_(grad, 1.0 - o.beta1);
  exp_avg_sq.mul_(o.beta2).addcmul_(grad, grad, 1.0 - o.beta2);
  const double bias_correction1 = 1.0 - std::pow(o.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(o.beta2, step);
  const double step_size = lr / bias_correction1;
  auto denom = (exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(o.eps);
  param.addcdiv_(exp_avg, denom, -step_size);
}

void AdamW::write_options(c10::impl::GenericDict& group) const {
  group.insert("betas", c10::ivalue::Tuple::create({options_.beta1, options_.beta2}));
  group.insert("eps", options_.eps);
  group.insert("weight_decay", options_.weight_decay);
  // torch.optim.AdamW's remaining defaults, so Python loads the dict as one of its own.
  group.insert("amsgrad", false);
  group.insert("maximize", false);
  group.insert("foreach", c10::IValue());
  group.insert("capturable", false);
  group.insert("differentiable", false);
  group.insert("fused", c10::IValue());
}

void AdamW::read_options(const c10::impl::GenericDict& group, const std::string& where,
                         bool apply) {
  auto betas_it = group.find("betas");
  if (betas_it == group.end()) throw std::invalid_argument(where + ": missing key 'betas'");
  auto betas = betas_it->value();
  std::vector<double> b;
  if (betas.isTuple())
    for (const auto& e : betas.toTupleRef().elements())
      if (e.isDouble() || e.isInt()) b.push_back(e.toScalar().toDouble());
  if (b.size() != 2)
    throw std::invalid_argument(where + ": key 'betas': expected a pair of numbers");
  for (const char* flag : {"amsgrad", "maximize"}) {
    if (group.contains(flag) && dict_bool(group, flag, where))
      throw std::invalid_argument(where + ": key '" + flag +
                                  "': expected false, nanotrain's AdamW does not implement it");
  }
  AdamWOptions o{b[0], b[1], dict_number(group, "eps", where),
                 dict_number(group, "weight_decay", where)};
  if (apply) options_ = o;
}

std::vector<std::string> AdamW::state_keys() const {
  return {"step", "exp_avg", "exp_avg_sq"};
}

std::vector<int64_t> AdamW::state_shape(const std::string& key, const torch::Tensor& param) const {
  if (key == "step") return {};
  return param.sizes().vec();
}

}  // namespace nt
