// Process-wide settings every nanotrain program applies once at start-up, before any tensor
// work: how idle OpenMP threads wait, LibTorch's thread count and the allocator's behaviour for
// large tensors.
#pragma once

namespace nt {

// OpenMP threads that sleep soon after they go idle instead of spinning. LibTorch's elementwise
// kernels run on OpenMP threads and its matmuls on OpenBLAS's own pthreads; with both pools as
// large as the CPU count, OpenMP's default of spinning for up to 3 ms after each parallel region
// takes a core from every matmul that follows (measured: a CPU training step up to 1.4x slower).
// Sleeping at once costs a futex wake-up per parallel region instead, which the optimizer's many
// small ops pay for (Muon's step 1.5x slower), so threads spin for kOpenMPSpinCount iterations
// of libgomp's wait loop (about 0.3 ms) first. libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT
// once, when it is loaded, so when the policy is unset this sets PASSIVE (and the spin count, if
// unset) and re-executes the program (/proc/self/exe, same pid, arguments and descriptors); a
// policy the user set is kept, and OMP_NUM_THREADS=1 (no OpenMP team) needs none. Call first thing in main, before any thread exists. Returns only
// when no re-execution was needed or it failed (the program then runs as it is).
inline constexpr char kOpenMPSpinCount[] = "30000";
void use_passive_openmp_wait(char** argv);
// OMP_WAIT_POLICY and GOMP_SPINCOUNT as this process's libgomp read them at start, or
// "default" when unset.
const char* openmp_wait_policy();
const char* openmp_spin_count();

// - Threads: OMP_NUM_THREADS when set (ntrun and torchrun set it per worker), else every CPU
//   of the affinity mask (taskset, cpusets, Slurm's --cpus-per-task), not the machine's count.
//   Debian's LibTorch otherwise starts with one intra-op thread, which halves bf16 matmul speed.
// - Allocator: glibc serves each large tensor with a fresh mmap and returns it with munmap, so a
//   training step page-faults its activations in again every time (measured: over half of a
//   CPU step's time in the kernel). Keeping freed memory in the heap (one arena, never trimmed)
//   lets steps reuse it; the cost is that the process keeps its peak heap size.
// Returns the number of intra-op threads set.
int configure_process();

// Makes LibTorch use deterministic kernels only, failing loudly where an operation has none
// (torch.use_deterministic_algorithms(True)). On CUDA that also needs a fixed cuBLAS workspace:
// CUBLAS_WORKSPACE_CONFIG=:4096:8 is set when unset, before the first cuBLAS call.
void use_deterministic_algorithms();

}  // namespace nt
