// The processor this process runs on: its name, its bf16 instructions, how many CPUs the
// scheduler lets this process use, and how many GPUs it may use. The one place that reads
// /proc/cpuinfo, the affinity mask and the GPU binding; free of LibTorch, so ntrun and the fuzz
// targets use it too.
#pragma once

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

// CPUs in this process's affinity mask (sched_getaffinity), which is what taskset, cpusets and
// Slurm's --cpus-per-task allow; at least 1.
int allowed_cpu_count();

// GPUs this process may use, as CUDA counts them: the entries of CUDA_VISIBLE_DEVICES when set,
// else of Slurm's binding (SLURM_STEP_GPUS, then SLURM_JOB_GPUS), up to the first that names no
// GPU (empty, -1, an index past the last), never more than /proc/driver/nvidia/gpus holds;
// without either variable, all of those.
int visible_gpu_count();
// The rule above on given values; a null pointer is an unset variable.
int count_visible_gpus(const char* cuda_visible_devices, const char* slurm_gpus, int gpus_present);

}  // namespace nt
