// The elementwise part of the chunked lm_head loss, fused over one row of logits at a time:
// soft-cap, softmax, the row's cross-entropy and its gradient in two passes over a row that
// stays in the core's cache, with vectorised exp and tanh. Plain C++ over arrays (no LibTorch):
// the caller hands it the matmul's output and splits the rows over threads.
#pragma once

#include <cstdint>

namespace nt {

enum class RowDtype { kFloat32, kBFloat16 };  // bf16: the upper 16 bits of an fp32, as uint16_t

// Rows of pre-cap logits z, (rows, vocab) row-major, and what to compute from them.
struct SoftcapRowsJob {
  const void* logits = nullptr;  // (rows, vocab) z, of logits_dtype
  RowDtype logits_dtype = RowDtype::kFloat32;
  const int64_t* targets = nullptr;  // (rows) in [0, vocab), or -1 for an ignored row
  int64_t rows = 0, vocab = 0;       // vocab >= 1
  float softcap = 15.0f;             // logit = softcap * tanh(z / softcap); in (0, 60]
  float* loss = nullptr;             // (rows) out: logsumexp(logit) - logit[target]; 0 if ignored
  void* grad = nullptr;              // (rows, vocab) out or nullptr: d(loss_i)/dz; 0 if ignored
  RowDtype grad_dtype = RowDtype::kFloat32;
};

// Floats of scratch that softcap_rows needs for a vocabulary: two rows, rounded up to 8.
int64_t softcap_scratch_floats(int64_t vocab);

// Computes rows [begin, end) of the job, using scratch (softcap_scratch_floats(vocab) floats of
// its own per thread); allocates nothing and cannot fail. Rows are independent: threads may
// share one job. Precondition (checked by the caller): targets in range, softcap in (0, 60], so
// that exp(logit) <= e^60 and the softmax needs no max subtraction.
void softcap_rows(const SoftcapRowsJob& job, int64_t begin, int64_t end, float* scratch) noexcept;

// The kernel's exp and tanh on one value (the same code, one lane), for the accuracy test.
// exp: relative error within kExpUlps fp32 ulps for x in [-87, 88] (clamped outside it);
// tanh: absolute error within kTanhUlps ulps of 1.0 (2^-24 each), and relative error within
// kTanhUlps ulps where |x| < 0.625.
inline constexpr double kExpUlps = 2.0, kTanhUlps = 3.0;
float softcap_exp(float x);
float softcap_tanh(float x);

}  // namespace nt
