// Gradient averaging across ranks overlapped with the backward pass, as PyTorch's
// DistributedDataParallel does it: parameters are grouped into buckets in the reverse of their
// order (the order backward produces a GPT's gradients: lm_head first, the embedding last), and
// as soon as every gradient of a bucket has been accumulated, the bucket's mean all_reduce
// starts while backward goes on with the layers below.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "runtime/collectives.h"

namespace nt {

class GradientReducer {
 public:
  // About 25 MB per bucket, DDP's default: large enough for full-speed transfers, small enough
  // that the first buckets start early in backward.
  static constexpr int64_t kBucketBytes = 25 << 20;

  // params: fp32 leaf tensors on the collectives' device, in the model's order; each must get
  // a gradient in every backward that reduces. `collectives` must outlive the reducer.
  GradientReducer(const std::vector<torch::Tensor>& params, Collectives& collectives,
                  int64_t bucket_bytes = kBucketBytes);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Call before each backward: `reduce` is true for the last micro-step of a gradient
  // accumulation (the others only accumulate locally, as under DDP's no_sync()).
  void prepare_backward(bool reduce);
  // Waits for every bucket and writes the mean over ranks into each parameter's .grad(). Call
  // after the reducing backward, before the optimizer step. Throws std::runtime_error naming
  // the parameter when one received no gradient (after waiting for what had started, so that
  // no rank is left inside a collective).
  void finish();

  int64_t num_buckets() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the autograd hooks, which may outlive this
};

}  // namespace nt
