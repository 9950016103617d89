// The GPT forward pass, its init, and the input checks that keep a bad token id or an
// over-long sequence from reaching an indexing kernel.
#include "model/gpt.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "model/softcap_cross_entropy.h"
#include "runtime/torch_compat.h"

namespace nt {
namespace {

constexpr double kSoftcap = 15.0;  // nanochat's logit soft-cap

torch::nn::Linear make_linear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

// Weights live in fp32; under bf16 compute both operands are cast, as autocast would.
torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer,
                     torch::ScalarType dtype) {
  return torch::nn::functional::linear(x.to(dtype), layer->weight.to(dtype));
}

// x: (B, T, H, hd). Rotates pairs (x1, x2) = (first half, second half) of each head.
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos,
                           const torch::Tensor& sin) {
  const int64_t d = x.size(3) / 2;
  auto x1 = x.narrow(3, 0, d);
  auto x2 = x.narrow(3, d, d);
  auto c = cos.to(x.scalar_type());
  auto s = sin.to(x.scalar_type());
  return torch::cat({x1 * c + x2 * s, x2 * c - x1 * s}, 3);
}

void check_token_ids(const torch::Tensor& ids, const char* what, int64_t vocab_size,
                     bool allow_ignore) {
  if (ids.numel() == 0) return;
  auto [lo_t, hi_t] = torch::aminmax(ids);
  const int64_t lo = lo_t.item<int64_t>(), hi = hi_t.item<int64_t>();
  const int64_t min_allowed = allow_ignore ? -1 : 0;
  if (lo < min_allowed || hi >= vocab_size)
    throw std::invalid_argument(fmt::format("{}: expected token ids in [{}, {}), found {}", what,
                                            min_allowed, vocab_size, lo < min_allowed ? lo : hi));
}

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x) {
  const double eps = std::numeric_limits<float>::epsilon();
  auto xf = x.to(torch::kFloat32);
  auto y = xf * torch::rsqrt(xf.square().mean(-1, /*keepdim=*/true) + eps);
  return y.to(x.scalar_type());
}

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const GPTConfig& config)
    : n_head_(config.n_head), n_kv_head_(config.n_kv_head), head_dim_(config.head_dim()) {
  const int64_t c = config.n_embd;
  c_q = register_module("c_q", make_linear(c, n_head_ * head_dim_));
  c_k = register_module("c_k", make_linear(c, n_kv_head_ * head_dim_));
  c_v = register_module("c_v", make_linear(c, n_kv_head_ * head_dim_));
  c_proj = register_module("c_proj", make_linear(c, c));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                               const torch::Tensor& sin, torch::ScalarType dtype) {
  const int64_t b = x.size(0), t = x.size(1), c = x.size(2);
  auto q = linear(x, c_q, dtype).view({b, t, n_head_, head_dim_});
  auto k = linear(x, c_k, dtype).view({b, t, n_kv_head_, head_dim_});
  auto v = linear(x, c_v, dtype).view({b, t, n_kv_head_, head_dim_});
  q = rms_norm(apply_rotary(q, cos, sin)).transpose(1, 2);  // (B, H, T, hd)
  k = rms_norm(apply_rotary(k, cos, sin)).transpose(1, 2);
  v = v.transpose(1, 2);
  if (n_kv_head_ < n_head_) {
    k = k.repeat_interleave(n_head_ / n_kv_head_, 1);
    v = v.repeat_interleave(n_head_ / n_kv_head_, 1);
  }
  auto y = causal_attention(q, k, v).transpose(1, 2).contiguous().view({b, t, c});
  return linear(y, c_proj, dtype);
}

MLPImpl::MLPImpl(const GPTConfig& config) {
  c_fc = register_module("c_fc", make_linear(config.n_embd, 4 * config.n_embd));
  c_proj = register_module("c_proj", make_linear(4 * config.n_embd, config.n_embd));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x, torch::ScalarType dtype) {
  return linear(torch::relu(linear(x, c_fc, dtype)).square(), c_proj, dtype);
}

BlockImpl::BlockImpl(const GPTConfig& config) {
  attn = register_module("attn", CausalSelfAttention(config));
  mlp = register_module("mlp", MLP(config));
}

torch::Tensor BlockImpl::forward(torch::Tensor x, const torch::Tensor& cos,
                                 const torch::Tensor& sin, torch::ScalarType dtype) {
  x = x + attn->forward(rms_norm(x), cos, sin, dtype);
  return x + mlp->forward(rms_norm(x), dtype);
}

TransformerImpl::TransformerImpl(const GPTConfig& config) {
  wte = register_module("wte", torch::nn::Embedding(config.padded_vocab_size(), config.n_embd));
  h = register_module("h", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.n_layer; ++i) {
    blocks.push_back(Block(config));
    h->push_back(blocks.back());
  }
}

GPTImpl::GPTImpl(const GPTConfig& config) : config_(config) {
  config_.validate();
  transformer = register_module("transformer", Transformer(config_));
  lm_head = register_module("lm_head", make_linear(config_.n_embd, config_.padded_vocab_size()));
  // inv_freq_i = 1 / 10000^(2i / hd); tables (1, T, 1, hd/2) broadcast over batch and heads.
  const int64_t hd = config_.head_dim();
  auto inv_freq = 1.0 / torch::pow(10000.0, torch::arange(0, hd, 2, torch::kFloat32) / hd);
  auto freqs = torch::outer(torch::arange(config_.sequence_len, torch::kFloat32), inv_freq);
  cos_ = register_buffer("cos", freqs.cos().view({1, config_.sequence_len, 1, hd / 2}));
  sin_ = register_buffer("sin", freqs.sin().view({1, config_.sequence_len, 1, hd / 2}));
}

void GPTImpl::init_weights(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  // Sample on the CPU generator so every device gets the same weights for a seed.
  auto fill_normal = [&](torch::Tensor& w, double std) {
    w.copy_(torch::empty(w.sizes(), torch::kFloat32).normal_(0.0, std, gen));
  };
  for (auto& item : named_parameters()) {
    auto& p = item.value();
    if (item.key() == "transformer.wte.weight") {
      fill_normal(p, 1.0);
    } else {
      const double fan_out = p.size(0), fan_in = p.size(1);
      fill_normal(p, 1.0 / std::sqrt(fan_in) * std::min(1.0, std::sqrt(fan_out / fan_in)));
    }
  }
  lm_head->weight.zero_();
  for (auto& block : transformer->blocks) {
    block->attn->c_proj->weight.zero_();
    block->mlp->c_proj->weight.zero_();
  }
}

torch::Tensor GPTImpl::hidden_states(const torch::Tensor& idx) {
  if (idx.dim() != 2 || idx.scalar_type() != torch::kInt64)
    throw std::invalid_argument(
        fmt::format("GPT input: expected (B, T) int64 token ids, found {} tensor of shape {}",
                    c10::toString(idx.scalar_type()), c10::str(idx.sizes())));
  const int64_t t = idx.size(1);
  if (t > config_.sequence_len)
    throw std::invalid_argument(
        fmt::format("GPT input: sequence length {} exceeds the model's sequence_len {}", t,
                    config_.sequence_len));
  check_token_ids(idx, "GPT input", config_.vocab_size, /*allow_ignore=*/false);
  auto cos = cos_.narrow(1, 0, t);
  auto sin = sin_.narrow(1, 0, t);
  auto x = rms_norm(transformer->wte->forward(idx));
  for (auto& block : transformer->blocks) x = block->forward(x, cos, sin, compute_dtype_);
  return rms_norm(x);
}

torch::Tensor GPTImpl::forward(const torch::Tensor& idx) {
  auto logits = linear(hidden_states(idx), lm_head, compute_dtype_)
                    .narrow(-1, 0, config_.vocab_size)
                    .to(torch::kFloat32);
  return kSoftcap * torch::tanh(logits / kSoftcap);
}

torch::Tensor GPTImpl::forward(const torch::Tensor& idx, const torch::Tensor& targets,
                               const std::string& loss_reduction) {
  if (loss_reduction != "mean" && loss_reduction != "none")
    throw std::invalid_argument(
        fmt::format("GPT loss_reduction: expected 'mean' or 'none', found '{}'", loss_reduction));
  if (targets.sizes() != idx.sizes() || targets.scalar_type() != torch::kInt64)
    throw std::invalid_argument(fmt::format(
        "GPT targets: expected int64 of shape {}, found {} of shape {}", c10::str(idx.sizes()),
        c10::toString(targets.scalar_type()), c10::str(targets.sizes())));
  check_token_ids(targets, "GPT targets", config_.vocab_size, /*allow_ignore=*/true);
  const bool differentiable = torch::GradMode::is_enabled() && lm_head->weight.requires_grad();
  if (loss_reduction == "none" && differentiable) {  // per-target losses to backpropagate
    auto logits = forward(idx);
    return torch::nn::functional::cross_entropy(
        logits.view({-1, logits.size(-1)}), targets.view({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1).reduction(torch::kNone));
  }
  const auto h = hidden_states(idx);
  const auto rows = h.reshape({-1, h.size(-1)});
  SoftcapLossOptions options;
  options.vocab_size = config_.vocab_size;
  options.softcap = kSoftcap;
  options.matmul_dtype = compute_dtype_;
  if (loss_reduction == "none")
    return softcap_cross_entropy_per_row(rows, lm_head->weight, targets.reshape({-1}), options);
  return softcap_cross_entropy(rows, lm_head->weight, targets.reshape({-1}), options);
}

void GPTImpl::set_compute_dtype(torch::ScalarType dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16)
    throw std::invalid_argument(
        fmt::format("compute dtype: expected float32 or bfloat16, found {}", c10::toString(dtype)));
  compute_dtype_ = dtype;
}

int64_t GPTImpl::num_params() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

int64_t GPTImpl::estimate_flops() const {
  const int64_t embedding = transformer->wte->weight.numel();
  return 6 * (num_params() - embedding) +
         12 * config_.n_layer * config_.n_head * config_.head_dim() * config_.sequence_len;
}

std::vector<torch::Tensor> GPTImpl::matrix_params() const {
  return transformer->h->parameters();
}

}  // namespace nt
