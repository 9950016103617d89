// The fused soft-cap + softmax + cross-entropy over rows of logits. A row of nanochat's 50304
// logits is 200 KB in fp32: the first pass writes tanh and exp into two such scratch rows, which
// the second pass reads back from the core's L2 instead of memory. exp and tanh are written here
// over GCC vector types (8 lanes) because ATen's tanh costs about 2 ns an element on these CPUs,
// more than every other pass of the loss together; the x86 build carries an AVX2+FMA clone.
#include "model/softcap_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// The helpers below pass 32-byte vectors by value; they are always inlined, so no call between
// the default and the AVX2 clone ever uses the ABI GCC warns about.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace nt {
namespace {

constexpr int kLanes = 8;
typedef float F8 __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t I8 __attribute__((vector_size(kLanes * sizeof(int32_t))));
typedef uint32_t U8 __attribute__((vector_size(kLanes * sizeof(uint32_t))));
typedef uint16_t H8 __attribute__((vector_size(kLanes * sizeof(uint16_t))));

#if defined(__x86_64__) && defined(__GNUC__)
#define NT_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NT_VECTOR_CLONES
#endif
#define NT_INLINE inline __attribute__((always_inline))

NT_INLINE F8 splat(float x) {
  return F8{} + x;
}

// e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln 2 / 2, e^r by a degree-7 polynomial
// (the minimax coefficients of the classic single-precision expf), 2^n built in the exponent.
NT_INLINE F8 vexp(F8 x) {
  x = x > 88.0f ? splat(88.0f) : x;  // comparisons are false on NaN, which passes through
  x = x < -87.0f ? splat(-87.0f) : x;
  F8 t = x * 1.44269504088896341f + 0.5f;
  t = t == t ? t : splat(0.0f);  // keep NaN out of the integer conversion
  F8 n = __builtin_convertvector(__builtin_convertvector(t, I8), F8);
  n = n > t ? n - 1.0f : n;  // floor
  const F8 r = x - n * 0.693359375f - n * -2.12194440e-4f;
  F8 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const I8 bits = (__builtin_convertvector(n, I8) + 127) << 23;
  return p * __builtin_bit_cast(F8, bits);
}

// tanh: an odd minimax polynomial below |x| = 0.625, where 1 - 2 / (e^2|x| + 1) would cancel;
// that form above it, with tanh's sign.
NT_INLINE F8 vtanh(F8 x) {
  const F8 ax = x < 0.0f ? -x : x;
  const F8 z = x * x;
  F8 p = splat(-5.70498872745e-3f);
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const F8 small = p * z * x + x;
  F8 large = 1.0f - 2.0f / (vexp(ax + ax) + 1.0f);
  large = x < 0.0f ? -large : large;
  return ax < 0.625f ? small : large;
}

NT_INLINE F8 load(const float* p) {
  F8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

NT_INLINE F8 load(const uint16_t* p) {
  H8 h;
  std::memcpy(&h, p, sizeof(h));
  const U8 bits = __builtin_convertvector(h, U8) << 16;
  return __builtin_bit_cast(F8, bits);
}

NT_INLINE void store(float* p, F8 v) {
  std::memcpy(p, &v, sizeof(v));
}

// Round to nearest even, NaN to the quiet NaN 0x7FC0: c10::BFloat16's conversion, lane-wise.
NT_INLINE void store(uint16_t* p, F8 v) {
  const U8 bits = __builtin_bit_cast(U8, v);
  const U8 rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  const U8 out = v == v ? rounded : U8{} + 0x7FC0u;
  const H8 h = __builtin_convertvector(out, H8);
  std::memcpy(p, &h, sizeof(h));
}

// The last vocab % 8 elements go through a padded copy of the row's end.
template <typename In>
NT_INLINE F8 load_tail(const In* p, int64_t n) {
  In padded[kLanes] = {};
  std::copy(p, p + n, padded);
  return load(padded);
}

template <typename Out>
NT_INLINE void store_tail(Out* p, F8 v, int64_t n) {
  Out padded[kLanes];
  store(padded, v);
  std::copy(padded, padded + n, p);
}

NT_INLINE float horizontal_sum(F8 v) {
  float s = 0.0f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// One row: returns its loss; u and e are scratch of vocab rounded up to 8 floats.
template <typename In, typename Out>
NT_INLINE float softcap_row(const In* z, int64_t vocab, float cap, int64_t target, Out* grad,
                            float* u, float* e) {
  const float inv_cap = 1.0f / cap;
  const int64_t full = vocab / kLanes * kLanes;
  // Lane sums of at most 64 blocks at a time, added up in double: the row's sum of exps stays
  // as accurate as a pairwise sum at any vocabulary size.
  double sum = 0.0;
  F8 acc = {};
  for (int64_t j = 0, blocks = 0; j < vocab; j += kLanes) {
    const F8 zj = j < full ? load(z + j) : load_tail(z + j, vocab - j);
    const F8 uj = vtanh(zj * inv_cap);
    F8 ej = vexp(uj * cap);
    if (j >= full) {
      for (int64_t l = vocab - j; l < kLanes; ++l) ej[l] = 0.0f;
    }
    store(u + j, uj);
    store(e + j, ej);
    acc += ej;
    if (++blocks == 64) {
      sum += horizontal_sum(acc);
      acc = F8{};
      blocks = 0;
    }
  }
  sum += horizontal_sum(acc);
  const float loss = static_cast<float>(std::log(sum) - double{cap} * u[target]);
  if (grad == nullptr) return loss;
  // d(loss)/dz = (softmax - onehot(target)) * (1 - u^2), the cap's tanh giving the last factor.
  const float inv_sum = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < vocab; j += kLanes) {
    const F8 uj = load(u + j);
    const F8 gj = load(e + j) * inv_sum * (1.0f - uj * uj);
    if (j < full) {
      store(grad + j, gj);
    } else {
      store_tail(grad + j, gj, vocab - j);
    }
  }
  const float ut = u[target];
  F8 gt = {};
  gt[0] = (e[target] * inv_sum - 1.0f) * (1.0f - ut * ut);
  store_tail(grad + target, gt, 1);
  return loss;
}

int64_t padded_vocab(int64_t vocab) {
  return (vocab + kLanes - 1) / kLanes * kLanes;
}

template <typename In, typename Out>
NT_INLINE void run_rows(const SoftcapRowsJob& job, int64_t begin, int64_t end, float* scratch) {
  const auto* logits = static_cast<const In*>(job.logits);
  auto* grad = static_cast<Out*>(job.grad);
  float* u = scratch;
  float* e = scratch + padded_vocab(job.vocab);
  for (int64_t i = begin; i < end; ++i) {
    Out* grad_row = grad ? grad + i * job.vocab : nullptr;
    if (job.targets[i] < 0) {  // an ignored row: no loss, no gradient
      job.loss[i] = 0.0f;
      if (grad_row) std::memset(grad_row, 0, sizeof(Out) * job.vocab);
      continue;
    }
    job.loss[i] =
        softcap_row(logits + i * job.vocab, job.vocab, job.softcap, job.targets[i], grad_row, u, e);
  }
}

}  // namespace

int64_t softcap_scratch_floats(int64_t vocab) {
  return 2 * padded_vocab(vocab);
}

NT_VECTOR_CLONES void softcap_rows(const SoftcapRowsJob& job, int64_t begin, int64_t end,
                                   float* scratch) noexcept {
  const bool bf16_in = job.logits_dtype == RowDtype::kBFloat16;
  const bool bf16_out = job.grad_dtype == RowDtype::kBFloat16;
  if (bf16_in && bf16_out) return run_rows<uint16_t, uint16_t>(job, begin, end, scratch);
  if (bf16_in) return run_rows<uint16_t, float>(job, begin, end, scratch);
  if (bf16_out) return run_rows<float, uint16_t>(job, begin, end, scratch);
  run_rows<float, float>(job, begin, end, scratch);
}

NT_VECTOR_CLONES float softcap_exp(float x) {
  return vexp(splat(x))[0];
}

NT_VECTOR_CLONES float softcap_tanh(float x) {
  return vtanh(splat(x))[0];
}

}  // namespace nt
