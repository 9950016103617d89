// nanochat's distributed optimizers (DistAdamW and DistMuon in nanochat/adamw.py and muon.py)
// save one file per rank, optim_{step:06d}_rank{r}.pt, each [DistAdamW, DistMuon].state_dict()
// of its rank. This file merges such a set into the whole state in nanotrain's layout (that of
// nanochat's single-process pair), which any world size then loads.
#pragma once

#include <ATen/core/ivalue.h>

#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace nt {

// DistMuon's layout, told apart from nanotrain's by its groups: one per parameter shape (shapes
// sorted), each carrying a zero_buffer of its shape. True when `muon_state_dict` is one.
bool is_dist_muon_state_dict(const c10::IValue& muon_state_dict);

// DistAdamW's state dicts of every rank (rank order) as `adamw`'s whole state dict. DistAdamW
// keeps AdamW's groups; rank r holds rows [r * n, (r + 1) * n) of exp_avg and exp_avg_sq
// (n = rows / ranks.size()) and the step as an int64 tensor, which becomes float32 as in
// torch.optim.AdamW. Throws std::invalid_argument naming `where`, the rank and the parameter
// when ranks hold different parameters or the rows do not add up to the parameter's.
c10::IValue merge_dist_adamw_state_dicts(const Optimizer& adamw,
                                         const std::vector<c10::IValue>& ranks,
                                         const std::string& where);

// DistMuon's state dicts of every rank (rank order) as `muon`'s whole state dict. In DistMuon the
// parameter at position i of a shape's group belongs to rank i % ranks.size(), which alone holds
// its momentum_buffer; here the k-th parameter of a shape is the k-th of that shape in `muon`'s
// groups (both keep the model's order). Throws std::invalid_argument naming `where` when the
// groups are not `muon`'s shapes, a parameter's state is on two ranks, or the groups' options
// differ where `muon` has one group for several shapes.
c10::IValue merge_dist_muon_state_dicts(const Optimizer& muon,
                                        const std::vector<c10::IValue>& ranks,
                                        const std::string& where);

}  // namespace nt
