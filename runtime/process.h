// Process-wide settings every nanotrain program applies once at start-up, before any tensor
// work: LibTorch's thread count and the allocator's behaviour for large tensors.
#pragma once

namespace nt {

// - Threads: OMP_NUM_THREADS when set (ntrun and torchrun set it per worker), else every CPU
//   of the affinity mask (taskset, cpusets, Slurm's --cpus-per-task), not the machine's count.
//   Debian's LibTorch otherwise starts with one intra-op thread, which halves bf16 matmul speed.
// - Allocator: glibc serves each large tensor with a fresh mmap and returns it with munmap, so a
//   training step page-faults its activations in again every time (measured: over half of a
//   CPU step's time in the kernel). Keeping freed memory in the heap (one arena, never trimmed)
//   lets steps reuse it; the cost is that the process keeps its peak heap size.
// Returns the number of intra-op threads set.
int configure_process();

}  // namespace nt
