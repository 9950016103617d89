// The lm_head, its logit soft-cap and the cross-entropy, fused over chunks of rows so that the
// (tokens, vocab) fp32 logits never exist whole: at nanochat's vocabulary of 50304 they take
// 412 MB for 2048 tokens, and every elementwise pass over them is a trip through memory.
#pragma once

#include <torch/torch.h>

namespace nt {

inline constexpr int64_t kChunkBytes = 128 << 20;

struct SoftcapLossOptions {
  int64_t vocab_size = 0;  // logits are the first vocab_size rows of the head: V
  double softcap = 15.0;   // logits = softcap * tanh(h W^T / softcap)
  // Rows of h per chunk; at most two (chunk_rows, V) fp32 buffers live at a time. 0: as many rows
  // as fit kChunkBytes in one buffer, at least 256 (fewer rows make the weight gradient's matmul,
  // whose inner dimension they are, lose speed).
  int64_t chunk_rows = 0;
  torch::ScalarType matmul_dtype = torch::kFloat32;  // operands cast to this, as autocast would
  // On CPU, the fused row kernel (model/softcap_rows.h); false: the tensor ops that other
  // devices run, e.g. to compare the two.
  bool row_kernel = true;
};

// Mean cross-entropy over the rows whose target is not -1, of the logits
// softcap * tanh(h W[:V]^T / softcap): a fp32 scalar, NaN when every target is -1 (as
// torch's cross_entropy). Differentiable in h and weight; the gradients are computed chunk by
// chunk during the forward pass (they need the same softmax) and scaled by the incoming
// gradient in backward.
// h: (N, C) float; weight: (Vp, C) fp32 with Vp >= V; targets: (N) int64 in [0, V) or -1.
torch::Tensor softcap_cross_entropy(const torch::Tensor& h, const torch::Tensor& weight,
                                    const torch::Tensor& targets,
                                    const SoftcapLossOptions& options);

// The same per-row losses in nats, (N) fp32, 0 where the target is -1. Not differentiable:
// this is for evaluation (bits per byte), under torch::NoGradGuard or not.
torch::Tensor softcap_cross_entropy_per_row(const torch::Tensor& h, const torch::Tensor& weight,
                                            const torch::Tensor& targets,
                                            const SoftcapLossOptions& options);

}  // namespace nt
