// The part AdamW and Muon share: parameter groups with lr and initial_lr, per-parameter state,
// and state_dict / load_state_dict in torch.optim's layout, so that the files Python writes and
// reads hold the same structure:
//   {"state": {index: {name: tensor}}, "param_groups": [{..., "params": [index, ...]}]}
// Indices count parameters across groups in order, as PyTorch numbers them.
// With collectives set, the optimizer is distributed as nanochat's DistAdamW and DistMuon are:
// state is sharded across ranks, and state_dict() gathers it whole (every rank must call it).
#pragma once

#include <ATen/core/ivalue.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "runtime/collectives.h"

namespace nt {

struct ParamGroup {
  std::vector<torch::Tensor> params;
  double lr = 0.0;
  double initial_lr = 0.0;  // the lr the schedule's multiplier scales
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  using State = std::map<std::string, torch::Tensor>;

  // How work and state split across ranks.
  // kFlat: each gradient is reduce-scattered (averaged) as a flat tensor, each rank updates its
  //   shard of the parameter with its shard of the state, and the shards are all-gathered.
  //   For elementwise optimizers (AdamW).
  // kWholeParam: parameter i belongs to rank i % world_size, which alone keeps its state and
  //   updates it from the averaged gradient, then broadcasts it. For Muon, whose
  //   orthogonalization needs the whole matrix.
  enum class Sharding { kFlat, kWholeParam };
  virtual Sharding sharding() const = 0;

  // Makes step(), state_dict() and load_state_dict() collective over `collectives` (null, the
  // default: one process, no communication). Set it before the first step.
  void set_collectives(Collectives* collectives) { collectives_ = collectives; }
  // Distributed only: true when every .grad() already holds the mean over ranks (a
  // GradientReducer averaged it during backward), so step() moves no gradients itself.
  void set_gradients_averaged(bool averaged) { gradients_averaged_ = averaged; }

  // One update of every parameter from its .grad(); parameters without a gradient are skipped
  // (on every rank alike). Distributed: gradients are averaged across ranks here, unless
  // set_gradients_averaged(true) says it happened before.
  void step();
  // One update of `param` (a whole parameter, or the slice a rank owns in the distributed
  // optimizer) from `grad` of the same shape, with its `state` (empty before the first update).
  virtual void update(torch::Tensor& param, const torch::Tensor& grad, State& state, double lr) = 0;
  // Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();
  // lr = initial_lr * multiplier in every group (nanochat's get_lr_multiplier).
  void set_lr_multiplier(double multiplier);

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }

  // The tensors in the result alias the optimizer's state (single process) or are gathered
  // copies of every shard (distributed, one parameter at a time); clone to keep a snapshot.
  c10::IValue state_dict() const;
  // Replaces lr, initial_lr, hyperparameters and state from `state_dict`, which always holds
  // whole tensors; distributed, each rank keeps its own part, so any world size can resume it.
  // `where` names the source in errors. Throws std::invalid_argument on any structural or shape
  // mismatch, and then leaves the optimizer unchanged.
  void load_state_dict(const c10::IValue& state_dict, const std::string& where);

  // What this rank owns, for a sharded save, without communication: kFlat, its flat shard of
  // every state tensor (1-D, Collectives::shard_range of the parameter; scalars whole);
  // kWholeParam, the whole state of the parameters it owns. param_groups are whole. The tensors
  // alias the optimizer's state. Single process: state_dict().
  c10::IValue shard_state_dict() const;
  // state_dict() put together again from the shard_state_dict() of every rank of a job of
  // shards.size() ranks, in rank order; any world size can then load_state_dict it. Throws
  // std::invalid_argument naming `where` when a parameter's state is missing from a rank,
  // duplicated, or its pieces do not add up to the parameter.
  c10::IValue merge_shard_state_dicts(const std::vector<c10::IValue>& shards,
                                      const std::string& where) const;
  // load_state_dict of what shard_state_dict() returned on this rank of a job of the same world
  // size: each state tensor has this rank's shape (its flat shard, or a whole parameter it owns),
  // and nothing is communicated. Throws std::invalid_argument as load_state_dict does.
  void load_shard_state_dict(const c10::IValue& shard, const std::string& where);

 protected:
  // Hyperparameters other than lr/initial_lr/params, written into each param group's dict.
  virtual void write_options(c10::impl::GenericDict& group) const = 0;
  // Reads them back; throws naming `where` and the key on a missing or mistyped one. Changes the
  // optimizer only when `apply` is true, so loading can check every group first.
  virtual void read_options(const c10::impl::GenericDict& group, const std::string& where,
                            bool apply) = 0;
  // The state entries one parameter has after its first step, and the shape each must have.
  virtual std::vector<std::string> state_keys() const = 0;
  virtual std::vector<int64_t> state_shape(const std::string& key,
                                           const torch::Tensor& param) const = 0;

  std::vector<ParamGroup> groups_;

 private:
  State whole_state(size_t index, const torch::Tensor& param) const;  // collective
  // {"state": state, "param_groups": every group with its options and parameter ids}.
  c10::IValue with_param_groups(c10::impl::GenericDict state) const;
  State local_part(size_t index, const torch::Tensor& param, State whole) const;
  // The shape of this rank's part of state `key` of `param`, as shard_state_dict holds it.
  std::vector<int64_t> shard_shape(const std::string& key, const torch::Tensor& param) const;
  void load(const c10::IValue& state_dict, const std::string& where, bool own_shard);
  int owner(size_t index) const { return static_cast<int>(index % collectives_->world_size()); }

  std::vector<State> state_;
  Collectives* collectives_ = nullptr;
  bool gradients_averaged_ = false;
};

// Reading state dicts; each throws std::invalid_argument naming `where` (and the key).
c10::impl::GenericDict as_dict(const c10::IValue& v, const std::string& where);
c10::IValue dict_get(const c10::impl::GenericDict& dict, const std::string& key,
                     const std::string& where);
// A param group's "params": the parameter ids.
std::vector<int64_t> group_param_ids(const c10::impl::GenericDict& group, const std::string& where);
// Reads a number (int or float in the file) from a state dict, naming `where` and `key` if it is
// missing or of another type.
double dict_number(const c10::impl::GenericDict& dict, const std::string& key,
                   const std::string& where);
bool dict_bool(const c10::impl::GenericDict& dict, const std::string& key,
               const std::string& where);

}  // namespace nt
