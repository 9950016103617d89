// Validation bits per byte: the model's mean next-token loss over held-out text, in bits, per
// byte of that text (nanochat's val bpb; for byte-level tokens, one token is one byte).
#pragma once

#include <torch/torch.h>

#include "model/gpt.h"
#include "runtime/collectives.h"

namespace nt {

// Evaluates up to `eval_tokens` targets of `val_tokens` (1-D int64) in (B, T) batches; ranks
// take disjoint batches and the sums are combined across them (collectives may be null).
double evaluate_bpb(GPT& model, const torch::Tensor& val_tokens, int64_t batch_size,
                    int64_t seq_len, int64_t eval_tokens, Collectives* collectives,
                    torch::Device device);

}  // namespace nt
