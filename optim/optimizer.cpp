// state_dict / load_state_dict in torch.optim's layout, shared by AdamW and Muon.
// Loading validates the whole dict before touching the optimizer, so a bad file changes nothing.
#include "optim/optimizer.h"

#include <fmt/format.h>

#include <stdexcept>

namespace nt {
namespace {

std::invalid_argument error(const std::string& where, const std::string& what) {
  return std::invalid_argument(where + ": " + what);
}

// A parameter's state as a dict, name -> tensor.
c10::impl::GenericDict state_entry(const Optimizer::State& state) {
  c10::impl::GenericDict entry(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [key, tensor] : state) entry.insert(key, tensor);
  return entry;
}

}  // namespace

c10::impl::GenericDict as_dict(const c10::IValue& v, const std::string& where) {
  if (!v.isGenericDict()) throw error(where, "expected a dict, found " + v.tagKind());
  return v.toGenericDict();
}

c10::IValue dict_get(const c10::impl::GenericDict& dict, const std::string& key,
                     const std::string& where) {
  auto it = dict.find(key);
  if (it == dict.end()) throw error(where, "missing key '" + key + "'");
  return it->value();
}

std::vector<int64_t> group_param_ids(const c10::impl::GenericDict& group,
                                     const std::string& where) {
  auto params = dict_get(group, "params", where);
  if (params.isIntList()) return params.toIntVector();
  if (!params.isList()) throw error(where, "params: expected a list");
  std::vector<int64_t> ids;
  for (const c10::IValue& id : params.toListRef()) {
    if (!id.isInt()) throw error(where, "params: expected integer ids");
    ids.push_back(id.toInt());
  }
  return ids;
}

double dict_number(const c10::impl::GenericDict& dict, const std::string& key,
                   const std::string& where) {
  auto v = dict_get(dict, key, where);
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  throw error(where, "key '" + key + "': expected a number, found " + v.tagKind());
}

bool dict_bool(const c10::impl::GenericDict& dict, const std::string& key,
               const std::string& where) {
  auto v = dict_get(dict, key, where);
  if (!v.isBool()) throw error(where, "key '" + key + "': expected a bool, found " + v.tagKind());
  return v.toBool();
}

Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  size_t n = 0;
  for (const auto& g : groups_) n += g.params.size();
  state_.resize(n);
}

void Optimizer::step() {
  torch::NoGradGuard no_grad;
  struct Item {
    size_t index;
    torch::Tensor param;
    double lr;
  };
  std::vector<Item> items;  // the parameters with a gradient, in order
  size_t index = 0;
  for (auto& group : groups_)
    for (auto& p : group.params) {
      if (p.grad().defined()) items.push_back({index, p, group.lr});
      ++index;
    }
  if (!collectives_) {
    for (auto& it : items) update(it.param, it.param.grad(), state_[it.index], it.lr);
    return;
  }
  Collectives& c = *collectives_;
  if (sharding() == Sharding::kFlat) {
    for (auto& it : items) {
      const int64_t numel = it.param.numel();
      const auto [begin, end] = c.shard_range(numel, c.rank());
      auto grad_shard = gradients_averaged_
                            ? it.param.grad().reshape({-1}).narrow(0, begin, end - begin)
                            : c.reduce_scatter_mean(it.param.grad());
      auto flat = it.param.view({-1});
      auto shard = flat.narrow(0, begin, end - begin);     // a view: updates land in the parameter
      update(shard, grad_shard, state_[it.index], it.lr);  // also on an empty shard (step counts)
      flat.copy_(c.all_gather(shard, numel));
    }
    return;
  }
  // Whole parameters in three phases, so that owners compute their updates at the same time
  // rather than each waiting for the previous owner's broadcast: average every gradient, update
  // what this rank owns, then every owner broadcasts its parameters.
  std::vector<torch::Tensor> grads;
  for (auto& it : items) {
    if (gradients_averaged_) {
      grads.push_back(it.param.grad());
      continue;
    }
    grads.push_back(it.param.grad().clone());
    c.all_reduce_mean(grads.back());
  }
  for (size_t k = 0; k < items.size(); ++k)
    if (owner(items[k].index) == c.rank())
      update(items[k].param, grads[k], state_[items[k].index], items[k].lr);
  for (auto& it : items) c.broadcast(it.param, owner(it.index));
}

Optimizer::State Optimizer::whole_state(size_t index, const torch::Tensor& param) const {
  Collectives& c = *collectives_;
  // Whether the state exists yet: every shard has it after the first step; for kWholeParam
  // only the owner knows.
  const int source = sharding() == Sharding::kFlat ? 0 : owner(index);
  auto present = torch::full({1}, state_[index].empty() ? 0.0f : 1.0f);
  c.broadcast(present, source);
  State whole;
  if (present.item<float>() == 0.0f) return whole;
  for (const auto& key : state_keys()) {
    const auto shape = state_shape(key, param);
    if (sharding() == Sharding::kWholeParam) {
      auto t =
          c.rank() == source ? state_[index].at(key).clone() : torch::zeros(shape, param.options());
      c.broadcast(t, source);
      whole[key] = t;
    } else if (shape.empty()) {
      whole[key] = state_[index].at(key).clone();  // scalars (AdamW's step) are replicated
    } else {
      const int64_t numel = param.numel();
      whole[key] = c.all_gather(state_[index].at(key), numel).view(shape);
    }
  }
  return whole;
}

Optimizer::State Optimizer::local_part(size_t index, const torch::Tensor& param,
                                       State whole) const {
  if (!collectives_ || whole.empty()) return whole;
  if (sharding() == Sharding::kWholeParam)
    return owner(index) == collectives_->rank() ? whole : State{};
  const auto [begin, end] = collectives_->shard_range(param.numel(), collectives_->rank());
  for (auto& [key, t] : whole)
    if (t.dim() > 0) t = t.reshape({-1}).narrow(0, begin, end - begin).clone();
  return whole;
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.mutable_grad() = torch::Tensor();
}

void Optimizer::set_lr_multiplier(double multiplier) {
  for (auto& g : groups_) g.lr = g.initial_lr * multiplier;
}

c10::IValue Optimizer::state_dict() const {
  c10::impl::GenericDict state(c10::IntType::get(), c10::AnyType::get());
  size_t i = 0;
  for (const auto& g : groups_) {
    for (const auto& p : g.params) {
      const State whole = collectives_ ? whole_state(i, p) : state_[i];
      if (!whole.empty()) state.insert(static_cast<int64_t>(i), state_entry(whole));
      ++i;
    }
  }
  return with_param_groups(state);
}

c10::IValue Optimizer::shard_state_dict() const {
  if (!collectives_) return state_dict();
  c10::impl::GenericDict state(c10::IntType::get(), c10::AnyType::get());
  for (size_t i = 0; i < state_.size(); ++i) {
    const bool owned = sharding() == Sharding::kFlat || owner(i) == collectives_->rank();
    if (owned && !state_[i].empty()) state.insert(static_cast<int64_t>(i), state_entry(state_[i]));
  }
  return with_param_groups(state);
}

c10::IValue Optimizer::merge_shard_state_dicts(const std::vector<c10::IValue>& shards,
                                               const std::string& where) const {
  if (shards.empty()) throw error(where, "no optimizer shards");
  std::vector<const torch::Tensor*> params;
  for (const auto& g : groups_)
    for (const auto& p : g.params) params.push_back(&p);
  // pieces[id][key]: the tensors of every rank that holds some of parameter id's state.
  std::map<int64_t, std::map<std::string, std::vector<torch::Tensor>>> pieces;
  std::map<int64_t, std::vector<size_t>> holders;
  for (size_t r = 0; r < shards.size(); ++r) {
    const std::string rw = fmt::format("{} (rank {})", where, r);
    auto state = as_dict(dict_get(as_dict(shards[r], rw), "state", rw), rw + ": state");
    for (const auto& item : state) {
      if (!item.key().isInt()) throw error(rw, "state: expected integer keys");
      const int64_t id = item.key().toInt();
      if (id < 0 || id >= static_cast<int64_t>(params.size()))
        throw error(rw, fmt::format("state[{}]: no parameter has this id", id));
      holders[id].push_back(r);
      for (const auto& entry : as_dict(item.value(), fmt::format("{}: state[{}]", rw, id))) {
        if (!entry.key().isString() || !entry.value().isTensor())
          throw error(rw, fmt::format("state[{}]: expected tensors by name", id));
        pieces[id][entry.key().toStringRef()].push_back(entry.value().toTensor());
      }
    }
  }
  c10::impl::GenericDict merged(c10::IntType::get(), c10::AnyType::get());
  for (auto& [id, by_key] : pieces) {
    const auto& ranks = holders[id];
    const torch::Tensor& param = *params[id];
    if (sharding() == Sharding::kWholeParam && ranks.size() != 1)
      throw error(where,
                  fmt::format("parameter {}: state in the shards of ranks [{}], expected one", id,
                              fmt::join(ranks, ", ")));
    if (sharding() == Sharding::kFlat && ranks.size() != shards.size())
      throw error(where, fmt::format("parameter {}: state in the shards of {} of {} ranks", id,
                                     ranks.size(), shards.size()));
    State whole;
    for (auto& [key, parts] : by_key) {
      if (sharding() == Sharding::kWholeParam || parts.front().dim() == 0) {
        whole[key] = parts.front();  // a whole tensor, or a scalar every rank keeps alike
        continue;
      }
      std::vector<torch::Tensor> flat;
      for (const auto& part : parts) flat.push_back(part.reshape({-1}));
      const auto joined = torch::cat(flat);
      if (joined.numel() != param.numel())
        throw error(where, fmt::format("parameter {}: the shards of '{}' hold {} elements, the "
                                       "parameter {}",
                                       id, key, joined.numel(), param.numel()));
      whole[key] = joined.view(state_shape(key, param));
    }
    merged.insert(id, state_entry(whole));
  }
  // param_groups (lr, options) are the same in every shard: rank 0's stand for all.
  auto top = as_dict(shards.front(), where);
  c10::impl::GenericDict out(c10::StringType::get(), c10::AnyType::get());
  out.insert("state", merged);
  out.insert("param_groups", dict_get(top, "param_groups", where));
  return out;
}

c10::IValue Optimizer::with_param_groups(c10::impl::GenericDict state) const {
  c10::impl::GenericList groups(c10::AnyType::get());
  int64_t index = 0;
  for (const auto& g : groups_) {
    c10::impl::GenericDict group(c10::StringType::get(), c10::AnyType::get());
    group.insert("lr", g.lr);
    write_options(group);
    group.insert("initial_lr", g.initial_lr);
    c10::List<int64_t> params;
    for (size_t j = 0; j < g.params.size(); ++j) params.push_back(index++);
    group.insert("params", params);
    groups.push_back(group);
  }
  c10::impl::GenericDict out(c10::StringType::get(), c10::AnyType::get());
  out.insert("state", state);
  out.insert("param_groups", groups);
  return out;
}

void Optimizer::load_state_dict(const c10::IValue& state_dict, const std::string& where) {
  load(state_dict, where, /*own_shard=*/false);
}

void Optimizer::load_shard_state_dict(const c10::IValue& shard, const std::string& where) {
  load(shard, where, /*own_shard=*/true);
}

std::vector<int64_t> Optimizer::shard_shape(const std::string& key,
                                            const torch::Tensor& param) const {
  auto shape = state_shape(key, param);
  if (!collectives_ || shape.empty() || sharding() == Sharding::kWholeParam) return shape;
  const auto [begin, end] = collectives_->shard_range(param.numel(), collectives_->rank());
  return {end - begin};
}

void Optimizer::load(const c10::IValue& state_dict, const std::string& where, bool own_shard) {
  auto top = as_dict(state_dict, where);
  auto groups_v = dict_get(top, "param_groups", where);
  if (!groups_v.isList()) throw error(where, "param_groups: expected a list");
  auto groups = groups_v.toList();
  if (groups.size() != groups_.size())
    throw error(where,
                fmt::format("expected {} param groups, found {}", groups_.size(), groups.size()));

  // Saved parameter ids map to our parameters in order, group by group, as in PyTorch.
  std::map<int64_t, size_t> id_to_index;
  std::vector<c10::impl::GenericDict> group_dicts;
  size_t index = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string gw = fmt::format("{}: param_groups[{}]", where, g);
    auto gd = as_dict(groups.get(g), gw);
    const auto ids = group_param_ids(gd, gw);
    if (ids.size() != groups_[g].params.size())
      throw error(
          gw, fmt::format("expected {} params, found {}", groups_[g].params.size(), ids.size()));
    for (int64_t id : ids) id_to_index[id] = index++;
    dict_number(gd, "lr", gw);
    dict_number(gd, "initial_lr", gw);
    read_options(gd, gw, /*apply=*/false);
    group_dicts.push_back(gd);
  }

  std::vector<const torch::Tensor*> flat_params;
  for (const auto& g : groups_)
    for (const auto& p : g.params) flat_params.push_back(&p);
  std::vector<State> loaded(state_.size());
  auto state = as_dict(dict_get(top, "state", where), where + ": state");
  for (const auto& item : state) {
    if (!item.key().isInt()) throw error(where, "state: expected integer keys");
    const int64_t id = item.key().toInt();
    const std::string sw = fmt::format("{}: state[{}]", where, id);
    auto it = id_to_index.find(id);
    if (it == id_to_index.end()) throw error(sw, "no parameter has this id");
    const torch::Tensor* param = flat_params[it->second];
    if (own_shard && collectives_ && sharding() == Sharding::kWholeParam &&
        owner(it->second) != collectives_->rank())
      throw error(sw, fmt::format("the state of a parameter that rank {} owns, not rank {}",
                                  owner(it->second), collectives_->rank()));
    auto entry = as_dict(item.value(), sw);
    if (entry.size() != state_keys().size())
      throw error(sw,
                  fmt::format("expected {} entries, found {}", state_keys().size(), entry.size()));
    for (const auto& key : state_keys()) {
      auto v = dict_get(entry, key, sw);
      if (!v.isTensor()) throw error(sw, "key '" + key + "': expected a tensor");
      auto t = v.toTensor();
      const auto expected = own_shard ? shard_shape(key, *param) : state_shape(key, *param);
      if (t.sizes() != c10::IntArrayRef(expected))
        throw error(sw, fmt::format("key '{}': expected shape {}, found {}", key,
                                    c10::str(c10::IntArrayRef(expected)), c10::str(t.sizes())));
      loaded[it->second][key] = t.to(param->device()).clone();
    }
    // Distributed, only this rank's part stays: the whole state never sits on the device.
    if (!own_shard)
      loaded[it->second] = local_part(it->second, *param, std::move(loaded[it->second]));
  }

  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string gw = fmt::format("{}: param_groups[{}]", where, g);
    read_options(group_dicts[g], gw, /*apply=*/true);
    groups_[g].lr = dict_number(group_dicts[g], "lr", gw);
    groups_[g].initial_lr = dict_number(group_dicts[g], "initial_lr", gw);
  }
  state_ = std::move(loaded);
}

}  // namespace nt
