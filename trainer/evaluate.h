// Validation bits per byte (nanochat's evaluate_bpb): the summed next-token loss in nats over
// held-out tokens, divided by ln 2 and by the bytes of text those target tokens stand for.
// Special tokens (0 bytes) count neither way, so the figure does not depend on the tokenizer.
#pragma once

#include <torch/torch.h>

#include "model/gpt.h"
#include "runtime/collectives.h"

namespace nt {

// Evaluates up to `eval_tokens` targets of `val_tokens` (1-D integer ids) in (B, T) batches;
// token_bytes (vocab_size,) gives each id's byte length. Ranks take disjoint batches and the
// sums are combined across them (collectives may be null).
double evaluate_bpb(GPT& model, const torch::Tensor& val_tokens, const torch::Tensor& token_bytes,
                    int64_t batch_size, int64_t seq_len, int64_t eval_tokens,
                    Collectives* collectives, torch::Device device);

}  // namespace nt
