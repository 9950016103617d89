// Thread count and glibc malloc tuning for training processes.
#include "runtime/process.h"

#include <malloc.h>
#include <torch/torch.h>

#include <cstdlib>
#include <thread>

namespace nt {

int configure_process() {
  mallopt(M_MMAP_MAX, 0);              // large blocks from the heap, not one mmap each
  mallopt(M_TRIM_THRESHOLD, 1 << 30);  // keep up to 1 GiB of freed heap for the next step
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) threads = n;
  }
  if (threads < 1) threads = 1;
  torch::set_num_threads(threads);
  return threads;
}

}  // namespace nt
