// Sums, not means, are reduced across batches and ranks, so the result is independent of how
// the tokens were split into batches and ranks.
#include "trainer/evaluate.h"

#include <cmath>

namespace nt {

double evaluate_bpb(GPT& model, const torch::Tensor& val_tokens, const torch::Tensor& token_bytes,
                    int64_t batch_size, int64_t seq_len, int64_t eval_tokens,
                    Collectives* collectives, torch::Device device) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int rank = collectives ? collectives->rank() : 0;
  const int world = collectives ? collectives->world_size() : 1;
  const int64_t span = batch_size * seq_len;
  const int64_t batches =
      std::max<int64_t>(1, std::min(eval_tokens, val_tokens.size(0) - 1) / span);
  const auto bytes_of = token_bytes.to(device, torch::kInt64);
  auto sums = torch::zeros({2}, torch::kFloat64);  // nats, bytes
  for (int64_t b = rank; b < batches; b += world) {
    if ((b + 1) * span + 1 > val_tokens.size(0)) break;
    auto window = val_tokens.narrow(0, b * span, span + 1).to(device, torch::kInt64);
    auto inputs = window.narrow(0, 0, span).view({batch_size, seq_len});
    auto targets = window.narrow(0, 1, span).view({batch_size, seq_len});
    auto losses = model->forward(inputs, targets, "none");  // (B * T) nats
    auto bytes = bytes_of.index_select(0, targets.reshape({-1}));
    sums[0] += (losses.to(torch::kFloat64) * (bytes > 0)).sum().cpu();
    sums[1] += bytes.sum().to(torch::kFloat64).cpu();
  }
  if (collectives) {
    auto f = sums.to(torch::kFloat32);  // the collectives reduce fp32
    collectives->all_reduce_sum(f);
    sums = f.to(torch::kFloat64);
  }
  model->train(was_training);
  return sums[0].item<double>() / (std::log(2.0) * sums[1].item<double>());
}

}  // namespace nt
