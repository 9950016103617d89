// The one place that knows which LibTorch nanotrain was built against (Debian's 1.13 CPU build,
// or a 2.x with CUDA from pip). Everything version-specific goes through here.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>

namespace c10d {
class Backend;
class ProcessGroup;
}  // namespace c10d

namespace nt {

// The base class of c10d's Gloo and NCCL process groups: c10d::ProcessGroup in 1.13, which 2.x
// split into a ProcessGroup front and per-device c10d::Backend objects.
#if TORCH_VERSION_MAJOR >= 2
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

// Whether c10d's Gloo has the flat collectives (_reduce_scatter_base, _allgather_base) and sums
// bf16 itself, as NCCL always does: LibTorch 2.x. 1.13's Gloo has neither, so
// runtime/process_group.cpp builds them from alltoall_base and allgather and sums bf16 in fp32.
#if TORCH_VERSION_MAJOR >= 2
inline constexpr bool kGlooHasFlatCollectives = true;
#else
inline constexpr bool kGlooHasFlatCollectives = false;
#endif

// Whether c10d's TCPStore client opens with the handshake (a VALIDATE query) that PyTorch 2.x's
// store servers require before any other query: 2.x, whose query codes are also shifted by that
// one. A 1.13 client's queries make such a server close the connection or wait for bytes that
// never come, so 1.13 cannot join the store of a 2.x torchrun's agent.
#if TORCH_VERSION_MAJOR >= 2
inline constexpr bool kStoreClientValidates = true;
#else
inline constexpr bool kStoreClientValidates = false;
#endif

// Causal scaled-dot-product attention. q: (B, H, T, hd); k, v: (B, H, T, hd), already expanded
// for GQA. Returns (B, H, T, hd). Uses the fused kernel where LibTorch has one (2.x).
inline torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0,
                                          /*is_causal=*/true);
#else
  const int64_t t = q.size(-2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  auto mask = torch::ones({t, t}, torch::dtype(torch::kBool).device(q.device())).triu(1);
  scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1), v);
#endif
}

// Frobenius norm over the last two dimensions, keepdim, computed as Python's
// `x.norm(dim=(-2, -1), keepdim=True)` is in the same LibTorch version (1.13: frobenius_norm;
// 2.x: linalg.vector_norm). The two round bf16 differently, and Muon's bf16 Newton-Schulz
// amplifies a one-ulp difference, so matching PyTorch bit for bit needs the same kernel.
inline torch::Tensor matrix_norm_fro(const torch::Tensor& x) {
#if TORCH_VERSION_MAJOR >= 2
  return at::linalg_vector_norm(x, 2, c10::IntArrayRef{-2, -1}, /*keepdim=*/true);
#else
  return at::frobenius_norm(x, {-2, -1}, /*keepdim=*/true);
#endif
}

}  // namespace nt
