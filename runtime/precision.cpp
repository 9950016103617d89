// CUDA devices are asked for their compute capability; CPUs answer from their flags.
#include "runtime/precision.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <stdexcept>

#include "runtime/cpu_info.h"
#include "runtime/log.h"
#include "runtime/process.h"

#ifdef NANOTRAIN_WITH_NCCL
#include <ATen/cuda/CUDAContext.h>
#endif

namespace nt {

bool bf16_matmul_native(c10::Device device) {
  if (device.is_cpu()) return cpu_info().bf16();
#ifdef NANOTRAIN_WITH_NCCL
  if (device.is_cuda()) {
    const int index = device.has_index() ? device.index() : 0;
    return at::cuda::getDeviceProperties(index)->major >= 8;
  }
#endif
  return false;
}

c10::ScalarType resolve_matmul_dtype(const std::string& name, c10::Device device,
                                     const std::string& key) {
  if (name == "float32") return c10::kFloat;
  if (name == "bfloat16") return c10::kBFloat16;
  if (name == "auto") return bf16_matmul_native(device) ? c10::kBFloat16 : c10::kFloat;
  throw std::invalid_argument(
      fmt::format("{}: expected auto, bfloat16 or float32, found '{}'", key, name));
}

std::string dtype_name(c10::ScalarType dtype) {
  if (dtype == c10::kFloat) return "float32";
  if (dtype == c10::kBFloat16) return "bfloat16";
  throw std::invalid_argument(
      fmt::format("expected a float32 or bfloat16 dtype, found {}", c10::toString(dtype)));
}

void log_precision(c10::Device device, c10::ScalarType model_dtype, c10::ScalarType muon_dtype) {
  const bool native = bf16_matmul_native(device);
  if (device.is_cpu()) {
    const CpuInfo& cpu = cpu_info();
    log0(
        "cpu: {}, {} CPUs allowed; intra-op threads: {}, OpenMP wait policy: {}; GOMP_SPINCOUNT: "
        "{}; bf16 matmul: {}",
        cpu.model_name, allowed_cpu_count(), at::get_num_threads(), openmp_wait_policy(),
        openmp_spin_count(),
        native ? (cpu.amx_bf16 ? "native (amx_bf16)" : "native (avx512_bf16)")
               : "not native (no avx512_bf16 or amx_bf16)");
  } else {
    log0("device: {}; bf16 matmul: {}", device.str(), native ? "native" : "not native");
  }
  log0("precision: model matmuls {}, Muon's Newton-Schulz {}", dtype_name(model_dtype),
       dtype_name(muon_dtype));
}

}  // namespace nt
