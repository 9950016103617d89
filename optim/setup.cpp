// Builds nanochat's optimizer pair for a GPT and moves their state as one list.
#include "optim/setup.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "optim/nanochat_layout.h"
#include "runtime/precision.h"

namespace nt {

void OptimizerConfig::validate() const {
  const std::pair<const char*, double> values[] = {{"embedding_lr", embedding_lr},
                                                   {"unembedding_lr", unembedding_lr},
                                                   {"matrix_lr", matrix_lr},
                                                   {"weight_decay", weight_decay}};
  for (const auto& [name, value] : values)
    if (!(value >= 0.0) || !std::isfinite(value))
      throw std::invalid_argument(
          fmt::format("{}: expected a finite non-negative number, found {}", name, value));
  resolve_matmul_dtype(muon_dtype, torch::kCPU, "muon_dtype");  // throws for an unknown name
}

Optimizers setup_optimizers(const GPT& model, const OptimizerConfig& config) {
  config.validate();
  const double dmodel_lr_scale = std::pow(model->config().n_embd / 768.0, -0.5);
  const double unembedding_lr = config.unembedding_lr * dmodel_lr_scale;
  const double embedding_lr = config.embedding_lr * dmodel_lr_scale;
  std::vector<ParamGroup> adam_groups = {{{model->lm_head_param()}, unembedding_lr, unembedding_lr},
                                         {{model->embedding_param()}, embedding_lr, embedding_lr}};
  AdamWOptions adam_options;
  adam_options.weight_decay = config.weight_decay;

  std::vector<ParamGroup> muon_groups;
  for (const auto& p : model->matrix_params()) {
    auto it = std::find_if(muon_groups.begin(), muon_groups.end(),
                           [&](const ParamGroup& g) { return g.params[0].numel() == p.numel(); });
    if (it == muon_groups.end())
      muon_groups.push_back({{p}, config.matrix_lr, config.matrix_lr});
    else
      it->params.push_back(p);
  }
  MuonOptions muon_options;
  muon_options.ns_dtype =
      resolve_matmul_dtype(config.muon_dtype, model->lm_head_param().device(), "muon_dtype");
  return {std::make_unique<AdamW>(std::move(adam_groups), adam_options),
          std::make_unique<Muon>(std::move(muon_groups), muon_options)};
}

void Optimizers::step() {
  adamw->step();
  muon->step();
}

void Optimizers::set_collectives(Collectives* collectives) {
  adamw->set_collectives(collectives);
  muon->set_collectives(collectives);
}

void Optimizers::set_gradients_averaged(bool averaged) {
  adamw->set_gradients_averaged(averaged);
  muon->set_gradients_averaged(averaged);
}

void Optimizers::zero_grad() {
  adamw->zero_grad();
  muon->zero_grad();
}

void Optimizers::set_schedule(double lr_multiplier, double momentum) {
  adamw->set_lr_multiplier(lr_multiplier);
  muon->set_lr_multiplier(lr_multiplier);
  muon->set_momentum(momentum);
}

c10::impl::GenericList Optimizers::state_dicts() const {
  c10::impl::GenericList list(c10::AnyType::get());
  list.push_back(adamw->state_dict());
  list.push_back(muon->state_dict());
  return list;
}

void Optimizers::load_state_dicts(const c10::IValue& list, const std::string& where) {
  if (!list.isList() || list.toListRef().size() != 2)
    throw std::invalid_argument(where +
                                ": expected a list of two optimizer state dicts [AdamW, Muon]");
  const auto& items = list.toListRef();
  adamw->load_state_dict(items[0], where + "[0] (AdamW)");
  muon->load_state_dict(items[1], where + "[1] (Muon)");
}

void Optimizers::load_shard_state_dicts(const c10::IValue& list, const std::string& where) {
  if (!list.isList() || list.toListRef().size() != 2)
    throw std::invalid_argument(where + ": expected a list of two optimizer shards [AdamW, Muon]");
  const auto& items = list.toListRef();
  adamw->load_shard_state_dict(items[0], where + "[0] (AdamW)");
  muon->load_shard_state_dict(items[1], where + "[1] (Muon)");
}

c10::impl::GenericList Optimizers::shard_state_dicts() const {
  c10::impl::GenericList list(c10::AnyType::get());
  list.push_back(adamw->shard_state_dict());
  list.push_back(muon->shard_state_dict());
  return list;
}

c10::impl::GenericList Optimizers::merge_shard_state_dicts(const std::vector<c10::IValue>& shards,
                                                           const std::string& where) const {
  std::vector<c10::IValue> adamw_parts, muon_parts;
  for (size_t r = 0; r < shards.size(); ++r) {
    if (!shards[r].isList() || shards[r].toListRef().size() != 2)
      throw std::invalid_argument(fmt::format(
          "{} (rank {}): expected a list of two optimizer state dicts [AdamW, Muon]", where, r));
    adamw_parts.push_back(shards[r].toListRef()[0]);
    muon_parts.push_back(shards[r].toListRef()[1]);
  }
  c10::impl::GenericList list(c10::AnyType::get());
  if (is_dist_muon_state_dict(muon_parts.front())) {
    list.push_back(merge_dist_adamw_state_dicts(*adamw, adamw_parts, where + "[0] (DistAdamW)"));
    list.push_back(merge_dist_muon_state_dicts(*muon, muon_parts, where + "[1] (DistMuon)"));
  } else {
    list.push_back(adamw->merge_shard_state_dicts(adamw_parts, where + "[0] (AdamW)"));
    list.push_back(muon->merge_shard_state_dicts(muon_parts, where + "[1] (Muon)"));
  }
  return list;
}

void Optimizers::load_state_dict_shards(const std::vector<c10::IValue>& shards,
                                        const std::string& where) {
  load_state_dicts(merge_shard_state_dicts(shards, where), where);
}

std::unique_ptr<GradientReducer> make_gradient_reducer(const GPT& model, Optimizers& optimizers,
                                                       Collectives* collectives) {
  if (!collectives) return nullptr;
  optimizers.set_gradients_averaged(true);
  return std::make_unique<GradientReducer>(model->parameters(), *collectives);
}

}  // namespace nt
