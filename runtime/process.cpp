// OpenMP wait policy, thread count and glibc malloc tuning for training processes.
#include "runtime/process.h"

#include <malloc.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "runtime/cpu_info.h"

namespace nt {

void use_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  // One thread starts no OpenMP team, so how its threads wait cannot matter: skipping the
  // re-execution saves a restarted worker (one thread each under ntrun on a full node) the
  // second load of LibTorch, about 0.3 s.
  const char* threads = std::getenv("OMP_NUM_THREADS");
  if (threads && std::string(threads) == "1") return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  setenv("GOMP_SPINCOUNT", kOpenMPSpinCount, /*overwrite=*/0);
  execv("/proc/self/exe", argv);
}

const char* openmp_wait_policy() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  return policy ? policy : "default";
}

const char* openmp_spin_count() {
  const char* count = std::getenv("GOMP_SPINCOUNT");
  return count ? count : "default";
}

int configure_process() {
  mallopt(M_MMAP_MAX, 0);         // large blocks from the heap, not one mmap each
  mallopt(M_TRIM_THRESHOLD, -1);  // never return freed heap: the next step needs it again
  // One arena: a thread arena (Gloo's worker threads allocate collective buffers) cannot hold
  // a block above 64 MB and would mmap and unmap it on every call despite M_MMAP_MAX.
  mallopt(M_ARENA_MAX, 1);
  int threads = allowed_cpu_count();
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) threads = n;
  }
  torch::set_num_threads(threads);
  return threads;
}

void use_deterministic_algorithms() {
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/false);
}

}  // namespace nt
