// What the processor this process runs on does well: its name, whether it multiplies bfloat16
// natively, and how many CPUs the scheduler lets this process use. The one place that reads
// /proc/cpuinfo and the affinity mask; every precision choice ("auto") resolves here.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace nt {

struct CpuInfo {
  std::string model_name = "unknown";  // /proc/cpuinfo's "model name", e.g. "AMD EPYC"
  bool avx512_bf16 = false;            // AVX-512 bf16 dot products (Cooper Lake, Zen 4, ...)
  bool amx_bf16 = false;               // AMX bf16 tiles (Sapphire Rapids and later)
  bool bf16() const { return avx512_bf16 || amx_bf16; }
};

// The first processor's entry of a /proc/cpuinfo text; fields that are absent keep defaults.
CpuInfo parse_cpu_info(const std::string& cpuinfo);
// This machine's, read once.
const CpuInfo& cpu_info();

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

// CPUs in this process's affinity mask (sched_getaffinity), which is what taskset, cpusets and
// Slurm's --cpus-per-task allow; at least 1.
int allowed_cpu_count();

}  // namespace nt
