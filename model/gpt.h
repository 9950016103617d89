// nanochat's GPT (December 2025) as a LibTorch module: rotary embeddings, QK norm, GQA,
// relu^2 MLP, untied embedding and lm_head, no biases, weightless RMS norm, logit soft-capping.
// Parameter names and shapes equal nanochat's, so state dicts move between the two.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace nt {

// RMS norm over the last dimension without weights, eps = float32 machine epsilon.
// Computed in fp32; returns the input's dtype.
torch::Tensor rms_norm(const torch::Tensor& x);

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit CausalSelfAttentionImpl(const GPTConfig& config);
  // x: (B, T, C) fp32; cos, sin: (1, T, 1, hd/2). Returns (B, T, C) in `dtype`.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::ScalarType dtype);

  torch::nn::Linear c_q{nullptr}, c_k{nullptr}, c_v{nullptr}, c_proj{nullptr};

 private:
  int64_t n_head_, n_kv_head_, head_dim_;
};
TORCH_MODULE(CausalSelfAttention);

class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const GPTConfig& config);
  // x: (B, T, C). Returns (B, T, C) in `dtype`.
  torch::Tensor forward(const torch::Tensor& x, torch::ScalarType dtype);

  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(MLP);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const GPTConfig& config);
  // x: (B, T, C) fp32 residual stream. Returns the updated stream, fp32.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& cos, const torch::Tensor& sin,
                        torch::ScalarType dtype);

  CausalSelfAttention attn{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(Block);

// Holds nanochat's `transformer` ModuleDict: wte and the list of blocks h.
class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const GPTConfig& config);

  torch::nn::Embedding wte{nullptr};
  torch::nn::ModuleList h{nullptr};
  std::vector<Block> blocks;  // the same modules as h, typed
};
TORCH_MODULE(Transformer);

class GPTImpl : public torch::nn::Module {
 public:
  // Builds the modules; weights are left as LibTorch creates them until init_weights.
  // Throws std::invalid_argument when config.validate() does.
  explicit GPTImpl(const GPTConfig& config);

  // nanochat's init, deterministic in `seed`: Linear weights ~ N(0, std) with
  // std = 1/sqrt(fan_in) * min(1, sqrt(fan_out/fan_in)); wte ~ N(0, 1); lm_head and every
  // c_proj zero. Independent of torch's global generator.
  void init_weights(uint64_t seed);

  // idx: (B, T) int64 token ids in [0, vocab_size), T <= sequence_len.
  // Returns logits (B, T, vocab_size), fp32, soft-capped at 15.
  torch::Tensor forward(const torch::Tensor& idx);
  // targets: (B, T) int64 in [0, vocab_size) or -1 (ignored). loss_reduction "mean": the mean
  // cross-entropy over non-ignored targets, a fp32 scalar; "none": (B * T) per-target losses in
  // nats, 0 at ignored targets (nanochat's). Both go through the chunked lm_head loss
  // (model/softcap_cross_entropy.h), so the (B * T, vocab_size) logits never exist whole,
  // except "none" with gradients, which takes the plain graph.
  torch::Tensor forward(const torch::Tensor& idx, const torch::Tensor& targets,
                        const std::string& loss_reduction = "mean");

  // Matmul compute precision: torch::kFloat32 (default) or torch::kBFloat16. Weights stay fp32.
  void set_compute_dtype(torch::ScalarType dtype);
  torch::ScalarType compute_dtype() const { return compute_dtype_; }

  const GPTConfig& config() const { return config_; }
  // FLOPs of one training token (forward + backward): 6 * (params - embedding params)
  // + 12 * n_layer * n_head * head_dim * sequence_len.
  int64_t estimate_flops() const;
  int64_t num_params() const;

  // Optimizer groups as nanochat's setup_optimizers draws them.
  std::vector<torch::Tensor> matrix_params() const;  // every parameter under transformer.h
  torch::Tensor embedding_param() const { return transformer->wte->weight; }
  torch::Tensor lm_head_param() const { return lm_head->weight; }

  Transformer transformer{nullptr};
  torch::nn::Linear lm_head{nullptr};

 private:
  torch::Tensor hidden_states(const torch::Tensor& idx);  // (B, T, C) after the final norm
  GPTConfig config_;
  torch::ScalarType compute_dtype_ = torch::kFloat32;
  torch::Tensor cos_, sin_;  // rotary tables (1, sequence_len, 1, hd/2), buffers: never saved
};
TORCH_MODULE(GPT);

}  // namespace nt
