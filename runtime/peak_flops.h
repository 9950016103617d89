// The FLOP/s that MFU (model FLOPs utilization) is measured against: nanochat's published
// H100 bf16 figure on CUDA, and on CPU this machine's own matmul peak, measured at the shapes
// the job multiplies.
#pragma once

#include <torch/torch.h>

namespace nt {

// nanochat's promised_flops_per_sec_h100: dense bf16 tensor-core FLOP/s of one H100.
constexpr double kH100Bf16Flops = 989e12;

// Best-of-10 FLOP/s of an (m, k) x (k, n) matmul in `dtype` on `device` (2 m k n FLOPs each),
// after a warm-up; with the threads this process has.
double measure_matmul_flops(torch::ScalarType dtype, torch::Device device, int64_t m, int64_t k,
                            int64_t n);
inline double measure_matmul_flops(torch::ScalarType dtype, torch::Device device,
                                   int64_t n = 2048) {
  return measure_matmul_flops(dtype, device, n, n, n);
}

// The peak of one (m, k) x (k, n) matmul shape that MFU divides by: kH100Bf16Flops on CUDA,
// measure_matmul_flops on CPU.
double peak_flops(torch::ScalarType dtype, torch::Device device, int64_t m, int64_t k, int64_t n);

}  // namespace nt
