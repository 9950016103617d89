// Merging the per-rank state dicts of nanochat's DistAdamW and DistMuon. The merged dicts go
// through Optimizer::load_state_dict, which checks every shape again; the checks here are the
// ones only the per-rank view can make, so that their messages can name the rank.
#include "optim/nanochat_layout.h"

#include <fmt/format.h>

#include <map>
#include <stdexcept>

namespace nt {
namespace {

std::invalid_argument merge_error(const std::string& where, const std::string& what) {
  return std::invalid_argument(where + ": " + what);
}

std::string rank_where(const std::string& where, size_t rank) {
  return fmt::format("{} (rank {})", where, rank);
}

c10::impl::GenericDict rank_state(const c10::IValue& state_dict, const std::string& where) {
  return as_dict(dict_get(as_dict(state_dict, where), "state", where), where + ": state");
}

c10::impl::GenericList rank_groups(const c10::IValue& state_dict, const std::string& where) {
  auto groups = dict_get(as_dict(state_dict, where), "param_groups", where);
  if (!groups.isList()) throw merge_error(where, "param_groups: expected a list");
  return groups.toList();
}

std::vector<const torch::Tensor*> flat_params(const Optimizer& optimizer) {
  std::vector<const torch::Tensor*> params;
  for (const auto& g : optimizer.param_groups())
    for (const auto& p : g.params) params.push_back(&p);
  return params;
}

c10::impl::GenericDict new_state() {
  return c10::impl::GenericDict(c10::IntType::get(), c10::AnyType::get());
}

c10::IValue state_dict_of(c10::impl::GenericDict state, c10::IValue param_groups) {
  c10::impl::GenericDict out(c10::StringType::get(), c10::AnyType::get());
  out.insert("state", std::move(state));
  out.insert("param_groups", std::move(param_groups));
  return out;
}

torch::Tensor entry_tensor(const c10::impl::GenericDict& entry, const std::string& key,
                           const std::string& where) {
  auto v = dict_get(entry, key, where);
  if (!v.isTensor()) throw merge_error(where, "key '" + key + "': expected a tensor");
  return v.toTensor();
}

}  // namespace

bool is_dist_muon_state_dict(const c10::IValue& muon_state_dict) {
  if (!muon_state_dict.isGenericDict()) return false;
  const auto top = muon_state_dict.toGenericDict();
  auto groups = top.find("param_groups");
  if (groups == top.end() || !groups->value().isList()) return false;
  for (const c10::IValue& g : groups->value().toListRef())
    if (g.isGenericDict() && g.toGenericDict().contains("zero_buffer")) return true;
  return false;
}

c10::IValue merge_dist_adamw_state_dicts(const Optimizer& adamw,
                                         const std::vector<c10::IValue>& ranks,
                                         const std::string& where) {
  if (ranks.empty()) throw merge_error(where, "no rank's state");
  const auto params = flat_params(adamw);
  std::vector<c10::impl::GenericDict> states;
  for (size_t r = 0; r < ranks.size(); ++r)
    states.push_back(rank_state(ranks[r], rank_where(where, r)));
  auto merged = new_state();
  for (const auto& item : states.front()) {
    if (!item.key().isInt()) throw merge_error(where, "state: expected integer keys");
    const int64_t id = item.key().toInt();
    if (id < 0 || id >= static_cast<int64_t>(params.size()))
      throw merge_error(where, fmt::format("state[{}]: no parameter has this id", id));
    std::vector<c10::impl::GenericDict> entries;
    for (size_t r = 0; r < states.size(); ++r) {
      const std::string rw = fmt::format("{}: state[{}]", rank_where(where, r), id);
      auto it = states[r].find(id);
      if (it == states[r].end()) throw merge_error(rw, "missing, while rank 0 holds it");
      entries.push_back(as_dict(it->value(), rw));
    }
    const torch::Tensor& param = *params[id];
    auto entry = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
    const std::string sw = fmt::format("{}: state[{}]", rank_where(where, 0), id);
    entry.insert("step", entry_tensor(entries.front(), "step", sw).to(torch::kFloat32));
    for (const char* key : {"exp_avg", "exp_avg_sq"}) {
      std::vector<torch::Tensor> rows;
      for (size_t r = 0; r < entries.size(); ++r)
        rows.push_back(
            entry_tensor(entries[r], key, fmt::format("{}: state[{}]", rank_where(where, r), id)));
      const auto whole = torch::cat(rows);
      if (whole.size(0) != param.size(0))
        throw merge_error(where,
                          fmt::format("parameter {}: the '{}' rows of {} ranks add up to {}, the "
                                      "parameter has {} (files of every rank are needed)",
                                      id, key, ranks.size(), whole.size(0), param.size(0)));
      entry.insert(key, whole);
    }
    merged.insert(id, entry);
  }
  for (size_t r = 1; r < states.size(); ++r)
    if (states[r].size() != states.front().size())
      throw merge_error(rank_where(where, r), fmt::format("state of {} parameters, rank 0 has {}",
                                                          states[r].size(), states.front().size()));
  return state_dict_of(merged, rank_groups(ranks.front(), rank_where(where, 0)));
}

c10::IValue merge_dist_muon_state_dicts(const Optimizer& muon,
                                        const std::vector<c10::IValue>& ranks,
                                        const std::string& where) {
  if (ranks.empty()) throw merge_error(where, "no rank's state");
  const auto params = flat_params(muon);
  // DistMuon's groups come in the order of their sorted shapes, as std::map orders the keys.
  std::map<std::vector<int64_t>, std::vector<int64_t>> ids_of_shape;
  for (size_t id = 0; id < params.size(); ++id)
    ids_of_shape[params[id]->sizes().vec()].push_back(static_cast<int64_t>(id));

  const std::string w0 = rank_where(where, 0);
  const auto groups = rank_groups(ranks.front(), w0);
  if (groups.size() != ids_of_shape.size())
    throw merge_error(w0,
                      fmt::format("expected {} param groups (one per parameter shape), found {}",
                                  ids_of_shape.size(), groups.size()));
  std::map<int64_t, int64_t> to_ours;                // DistMuon's id -> ours
  std::vector<c10::IValue> group_of(params.size());  // ours -> DistMuon's group dict
  size_t g = 0;
  for (const auto& [shape, ours] : ids_of_shape) {
    const std::string gw = fmt::format("{}: param_groups[{}]", w0, g);
    auto group = as_dict(groups.get(g++), gw);
    const auto zero_buffer = dict_get(group, "zero_buffer", gw);
    if (!zero_buffer.isTensor() || zero_buffer.toTensor().sizes() != c10::IntArrayRef(shape))
      throw merge_error(
          gw, fmt::format("expected the group of shape {}", c10::str(c10::IntArrayRef(shape))));
    const auto theirs = group_param_ids(group, gw);
    if (theirs.size() != ours.size())
      throw merge_error(gw, fmt::format("expected {} params of shape {}, found {}", ours.size(),
                                        c10::str(c10::IntArrayRef(shape)), theirs.size()));
    for (size_t k = 0; k < ours.size(); ++k) {
      to_ours[theirs[k]] = ours[k];
      group_of[ours[k]] = group;
    }
  }

  auto merged = new_state();
  std::map<int64_t, size_t> holder;
  for (size_t r = 0; r < ranks.size(); ++r) {
    const std::string rw = rank_where(where, r);
    for (const auto& item : rank_state(ranks[r], rw)) {
      if (!item.key().isInt()) throw merge_error(rw, "state: expected integer keys");
      const int64_t id = item.key().toInt();
      auto it = to_ours.find(id);
      if (it == to_ours.end())
        throw merge_error(rw, fmt::format("state[{}]: no parameter has this id", id));
      if (auto [held, fresh] = holder.emplace(id, r); !fresh)
        throw merge_error(where, fmt::format("parameter {}: state on ranks {} and {}, expected one",
                                             id, held->second, r));
      merged.insert(it->second, item.value());
    }
  }

  // Our groups with the options of their parameters' DistMuon groups, which must agree.
  c10::impl::GenericList our_groups(c10::AnyType::get());
  int64_t next = 0;
  for (size_t k = 0; k < muon.param_groups().size(); ++k) {
    const auto first = group_of[next].toGenericDict();
    c10::impl::GenericDict group(c10::StringType::get(), c10::AnyType::get());
    for (const auto& item : first)
      if (item.key().toStringRef() != "params" && item.key().toStringRef() != "zero_buffer")
        group.insert(item.key(), item.value());
    c10::List<int64_t> ids;
    for (size_t j = 0; j < muon.param_groups()[k].params.size(); ++j, ++next) {
      for (const char* key : {"lr", "initial_lr"})
        if (dict_number(group_of[next].toGenericDict(), key, w0) != dict_number(first, key, w0))
          throw merge_error(w0,
                            fmt::format("'{}' differs between groups of the same element count, "
                                        "which nanotrain's Muon keeps in one group",
                                        key));
      ids.push_back(next);
    }
    group.insert("params", ids);
    our_groups.push_back(group);
  }
  return state_dict_of(merged, our_groups);
}

}  // namespace nt
