// Which matmul precision a device does well: bf16 where it is native (CUDA compute capability
// 8.0 on; CPUs with avx512_bf16 or amx_bf16), fp32 elsewhere. Every precision choice "auto"
// resolves here, and each job logs what it chose (log_precision).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace nt {

// Whether a bf16 matmul runs at least as fast as fp32 on `device`: on CUDA compute capability
// 8.0 or later (Ampere on); on CPU the avx512_bf16 or amx_bf16 flags. Elsewhere LibTorch falls
// back to a scalar bf16 path (measured on an AVX2-only EPYC: 4.8 GFLOP/s against 151 in fp32).
bool bf16_matmul_native(c10::Device device);

// A matmul precision by name: "float32", "bfloat16", or "auto" (bfloat16 where
// bf16_matmul_native(device), else float32). Throws std::invalid_argument naming `key` and the
// expected names for any other value.
c10::ScalarType resolve_matmul_dtype(const std::string& name, c10::Device device,
                                     const std::string& key);
// "float32" or "bfloat16" for a dtype resolve_matmul_dtype returns.
std::string dtype_name(c10::ScalarType dtype);

// Logs the CPU (or GPU), whether it multiplies bf16 natively, and the precision of the model
// and of Muon.
void log_precision(c10::Device device, c10::ScalarType model_dtype, c10::ScalarType muon_dtype);

}  // namespace nt
