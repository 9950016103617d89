// The FLOP/s that MFU (model FLOPs utilization) is measured against: nanochat's published
// H100 bf16 figure on CUDA, and on CPU this machine's own matmul peak, measured.
#pragma once

#include <torch/torch.h>

namespace nt {

// nanochat's promised_flops_per_sec_h100: dense bf16 tensor-core FLOP/s of one H100.
constexpr double kH100Bf16Flops = 989e12;

// Best-of-5 FLOP/s of an n x n x n matmul in `dtype` on `device` (2 n^3 FLOPs each), after a
// warm-up; with the threads this process has.
double measure_matmul_flops(torch::ScalarType dtype, torch::Device device, int64_t n = 2048);

// The peak MFU divides by: kH100Bf16Flops on CUDA, measure_matmul_flops(dtype, 1024) on CPU.
double peak_flops(torch::ScalarType dtype, torch::Device device);

}  // namespace nt
