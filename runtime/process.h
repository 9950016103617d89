// Process-wide settings every nanotrain program applies once at start-up, before any tensor
// work: how idle OpenMP threads wait, LibTorch's thread count and the allocator's behaviour for
// large tensors.
#pragma once

namespace nt {

// OpenMP threads that sleep when idle instead of spinning. LibTorch's elementwise kernels run on
// OpenMP threads and its matmuls on OpenBLAS's own pthreads; with both pools as large as the
// CPU count, OpenMP's default of spinning for a while after each parallel region takes a core
// from every matmul that follows (measured: a CPU training step up to 1.4x slower). libgomp
// reads OMP_WAIT_POLICY once, when it is loaded, so when the variable is unset this sets it to
// PASSIVE and re-executes the program (/proc/self/exe, same pid, arguments and descriptors);
// a value the user set is kept. Call first thing in main, before any thread exists. Returns
// only when no re-execution was needed or it failed (the program then runs as it is).
void use_passive_openmp_wait(char** argv);
// OMP_WAIT_POLICY as this process's libgomp read it at start, or "default" when unset.
const char* openmp_wait_policy();

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
