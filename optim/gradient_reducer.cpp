// Bucketed gradient all_reduce driven by hooks on each parameter's gradient accumulator: the
// hook runs after the gradient has been added into .grad(), so a bucket whose last hook has run
// holds final gradients. Buckets start strictly in order, so every rank issues the same
// collectives in the same sequence even where two buckets become ready in another order.
#include "optim/gradient_reducer.h"

#include <fmt/format.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>

#include <stdexcept>

namespace nt {

struct GradientReducer::State {
  struct Bucket {
    std::vector<size_t> params;  // indices into State::params
    torch::Tensor flat;          // the bucket's gradients, packed
    int64_t waiting = 0;         // gradients not yet accumulated in this backward
    std::unique_ptr<PendingCollective> pending;
  };

  Collectives* collectives = nullptr;
  std::vector<torch::Tensor> params;
  std::vector<size_t> bucket_of, offset_of;  // per parameter
  std::vector<Bucket> buckets;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;  // keep the hooks alive
  bool armed = false;
  size_t next_to_start = 0;

  void on_gradient(size_t index) {
    if (!armed) return;
    --buckets[bucket_of[index]].waiting;
    while (next_to_start < buckets.size() && buckets[next_to_start].waiting == 0)
      start(buckets[next_to_start++]);
  }

  void start(Bucket& bucket) {
    for (size_t i : bucket.params)
      bucket.flat.narrow(0, offset_of[i], params[i].numel()).copy_(params[i].grad().view({-1}));
    bucket.pending = collectives->start_all_reduce_mean(bucket.flat);
  }
};

GradientReducer::GradientReducer(const std::vector<torch::Tensor>& params, Collectives& collectives,
                                 int64_t bucket_bytes)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.collectives = &collectives;
  s.params = params;
  s.bucket_of.resize(params.size());
  s.offset_of.resize(params.size());
  // Buckets fill in reverse parameter order; one closes once it holds bucket_bytes.
  std::vector<int64_t> bucket_numels;
  for (size_t k = params.size(); k-- > 0;) {
    const auto& p = params[k];
    if (p.scalar_type() != torch::kFloat32 || !p.requires_grad() || !p.is_leaf())
      throw std::invalid_argument(
          fmt::format("GradientReducer: parameter {} must be a fp32 leaf that requires grad", k));
    if (s.buckets.empty() || bucket_numels.back() * p.element_size() >= bucket_bytes) {
      s.buckets.emplace_back();
      bucket_numels.push_back(0);
    }
    s.bucket_of[k] = s.buckets.size() - 1;
    s.offset_of[k] = bucket_numels.back();
    s.buckets.back().params.push_back(k);
    bucket_numels.back() += p.numel();
  }
  for (size_t b = 0; b < s.buckets.size(); ++b)
    s.buckets[b].flat = torch::empty({bucket_numels[b]}, params[0].options().requires_grad(false));
  std::weak_ptr<State> weak = state_;
  for (size_t k = 0; k < params.size(); ++k) {
    auto accumulator = torch::autograd::impl::grad_accumulator(params[k]);
    accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [weak, k](const torch::autograd::variable_list& outputs,
                  const torch::autograd::variable_list&) {
          if (auto state = weak.lock()) state->on_gradient(k);
          return outputs;
        }));
    s.accumulators.push_back(std::move(accumulator));
  }
}

GradientReducer::~GradientReducer() {
  state_->armed = false;
}

void GradientReducer::prepare_backward(bool reduce) {
  State& s = *state_;
  s.armed = reduce;
  s.next_to_start = 0;
  for (auto& bucket : s.buckets) bucket.waiting = static_cast<int64_t>(bucket.params.size());
}

void GradientReducer::finish() {
  State& s = *state_;
  s.armed = false;
  for (size_t b = 0; b < s.next_to_start; ++b) {
    s.buckets[b].pending->wait();
    s.buckets[b].pending.reset();
  }
  if (s.next_to_start < s.buckets.size()) {
    for (size_t i : s.buckets[s.next_to_start].params)
      if (!s.params[i].grad().defined())
        throw std::runtime_error(fmt::format(
            "GradientReducer: parameter {} received no gradient in backward; every parameter "
            "must take part in the loss",
            i));
    throw std::runtime_error(fmt::format(
        "GradientReducer: bucket {} of {} never became ready: a parameter received no gradient "
        "in this backward, or it was not prepared with prepare_backward(true)",
        s.next_to_start, s.buckets.size()));
  }
  torch::NoGradGuard no_grad;
  for (auto& bucket : s.buckets)
    for (size_t i : bucket.params)
      s.params[i].mutable_grad().view({-1}).copy_(
          bucket.flat.narrow(0, s.offset_of[i], s.params[i].numel()));
}

int64_t GradientReducer::num_buckets() const {
  return static_cast<int64_t>(state_->buckets.size());
}

}  // namespace nt
