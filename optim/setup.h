// nanochat's setup_optimizers: AdamW for the lm_head and the embedding (LRs scaled by
// (n_embd/768)^-0.5), Muon for every matrix in the transformer blocks. The pair is saved and
// loaded as the list [AdamW state dict, Muon state dict], as in nanochat's optim files.
#pragma once

#include <memory>
#include <string>

#include "model/gpt.h"
#include "optim/adamw.h"
#include "optim/gradient_reducer.h"
#include "optim/muon.h"

namespace nt {

struct OptimizerConfig {
  double embedding_lr = 0.2;
  double unembedding_lr = 0.004;
  double matrix_lr = 0.02;
  double weight_decay = 0.0;
  std::string muon_dtype = "auto";  // see runtime/precision.h

  template <class V>
  void visit(V&& v) {
    v("embedding_lr", embedding_lr, "AdamW LR of the embedding (wte), before width scaling");
    v("unembedding_lr", unembedding_lr, "AdamW LR of lm_head, before width scaling");
    v("matrix_lr", matrix_lr, "Muon LR of the transformer's matrices");
    v("weight_decay", weight_decay, "AdamW weight decay");
    v("muon_dtype", muon_dtype,
      "Newton-Schulz precision: auto (bfloat16 where native) | bfloat16 | float32");
  }
  // Throws std::invalid_argument for a negative rate or decay, or an unknown muon_dtype.
  void validate() const;
};

struct Optimizers {
  std::unique_ptr<AdamW> adamw;
  std::unique_ptr<Muon> muon;

  void step();
  void zero_grad();
  // Distributes both optimizers over `collectives` (see Optimizer::set_collectives).
  void set_collectives(Collectives* collectives);
  // See Optimizer::set_gradients_averaged.
  void set_gradients_averaged(bool averaged);
  // Sets the schedules' values for the coming step: `lr_multiplier` scales both optimizers'
  // learning rates, `momentum` is Muon's.
  void set_schedule(double lr_multiplier, double momentum);
  // [AdamW state dict, Muon state dict]. Collective when distributed: every rank calls it.
  c10::impl::GenericList state_dicts() const;
  // Each optimizer is left unchanged when its own dict is bad; a bad Muon dict after a good
  // AdamW one leaves AdamW loaded, so callers treat an error here as fatal.
  void load_state_dicts(const c10::IValue& list, const std::string& where);
  // [AdamW shard, Muon shard]: what this rank owns (Optimizer::shard_state_dict), no
  // communication.
  c10::impl::GenericList shard_state_dicts() const;
  // Loads what shard_state_dicts() returned on this rank of a job of the same world size (a
  // per-step snapshot): nothing is communicated. Throws std::invalid_argument naming `where`.
  void load_shard_state_dicts(const c10::IValue& list, const std::string& where);
  // [AdamW, Muon] whole, from every rank's list of a job of shards.size() ranks (in rank order):
  // what shard_state_dicts() returned, or nanochat's per-rank [DistAdamW, DistMuon] state dicts
  // (optim/nanochat_layout.h, told apart by DistMuon's groups). Throws std::invalid_argument
  // naming `where`.
  c10::impl::GenericList merge_shard_state_dicts(const std::vector<c10::IValue>& shards,
                                                 const std::string& where) const;
  // load_state_dicts(merge_shard_state_dicts(shards)): any world size loads any other's shards.
  void load_state_dict_shards(const std::vector<c10::IValue>& shards, const std::string& where);
};

// AdamW groups: [lm_head.weight] then [transformer.wte.weight]; Muon groups: the block matrices
// grouped by element count, in order of first appearance (nanochat groups Muon params by size).
Optimizers setup_optimizers(const GPT& model, const OptimizerConfig& config);

// Distributed (collectives not null): a GradientReducer over the model's parameters, with the
// optimizers told that their gradients arrive averaged. Null for one process, where nothing is
// averaged. Call after the parameters are final (after loading a checkpoint).
std::unique_ptr<GradientReducer> make_gradient_reducer(const GPT& model, Optimizers& optimizers,
                                                       Collectives* collectives);

}  // namespace nt
